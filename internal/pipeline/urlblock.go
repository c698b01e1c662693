package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"

	"github.com/gantryci/gantry/internal/ciconfig"
)

// Outbound requests on behalf of a configuration (include:remote) follow
// GitLab's Gitlab::HTTP with the instance setting
// allow_local_requests_from_web_hooks_and_services, false by default:
// Gitlab::HTTP_V2::UrlBlocker refuses addresses of this host and of local
// networks, checked in this order, each with its own sentence
// (gems/gitlab-http/lib/gitlab/http_v2/url_blocker.rb). The server's own
// external URL is always allowed (allowed_internal_uris).

var blockOrder = map[string]int{
	"Requests to localhost are not allowed":                     0,
	"Requests to loopback addresses are not allowed":            1,
	"Requests to the local network are not allowed":             2,
	"Requests to the link local network are not allowed":        3,
	"Requests to the shared address space are not allowed":      4,
	"Requests to the limited broadcast address are not allowed": 5,
}

// blockedReason is the blocker's sentence for ip, or "" when allowed.
func blockedReason(ip netip.Addr, own []netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case ip.IsUnspecified() || containsAddr(own, ip):
		return "Requests to localhost are not allowed"
	case ip.IsLoopback():
		return "Requests to loopback addresses are not allowed"
	case ip.IsPrivate() || netip.MustParsePrefix("fec0::/10").Contains(ip):
		return "Requests to the local network are not allowed"
	case ip.IsLinkLocalUnicast() || netip.MustParsePrefix("169.254.0.0/16").Contains(ip):
		return "Requests to the link local network are not allowed"
	case netip.MustParsePrefix("100.64.0.0/10").Contains(ip):
		return "Requests to the shared address space are not allowed"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "Requests to the limited broadcast address are not allowed"
	}
	return ""
}

func containsAddr(list []netip.Addr, ip netip.Addr) bool {
	for _, a := range list {
		if a.Unmap() == ip {
			return true
		}
	}
	return false
}

// ownAddrs are the addresses of this host's interfaces (Ruby's
// Socket.ip_address_list), which the blocker counts as localhost.
func ownAddrs() []netip.Addr {
	addrs, _ := net.InterfaceAddrs()
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr())
		}
	}
	return out
}

// guardedClient returns client with a dialer that refuses blocked
// addresses at connection time, so that redirects and DNS answers that
// change between the check and the connection are refused too.
func guardedClient(client *http.Client) *http.Client {
	tr, ok := client.Transport.(*http.Transport)
	if client.Transport == nil {
		tr, ok = http.DefaultTransport.(*http.Transport)
	}
	if !ok {
		return client
	}
	tr = tr.Clone()
	own := ownAddrs()
	d := &net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &ciconfig.RemoteBlockedError{Reason: "Host cannot be resolved or invalid"}
		}
		if r := blockedReason(ap.Addr(), own); r != "" {
			return &ciconfig.RemoteBlockedError{Reason: r}
		}
		return nil
	}}
	tr.DialContext = d.DialContext
	tr.Proxy = nil // the checked address is the one connected to
	c := *client
	c.Transport = tr
	return &c
}

// checkRemoteURL resolves the URL's host as the blocker does before the
// request: a host that does not resolve is "Host cannot be resolved or
// invalid", and any blocked address among the answers refuses the URL.
func checkRemoteURL(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return &ciconfig.RemoteBlockedError{Reason: "URI is invalid"}
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
	if err != nil || len(ips) == 0 {
		var dns *net.DNSError
		if errors.As(err, &dns) && dns.IsTimeout {
			return fmt.Errorf("%w: %w", ciconfig.ErrRemoteTimeout, err)
		}
		return &ciconfig.RemoteBlockedError{Reason: "Host cannot be resolved or invalid"}
	}
	// Each check runs over all the answers before the next one.
	own := ownAddrs()
	first := ""
	for _, ip := range ips {
		if r := blockedReason(ip, own); r != "" && (first == "" || blockOrder[r] < blockOrder[first]) {
			first = r
		}
	}
	if first != "" {
		return &ciconfig.RemoteBlockedError{Reason: first}
	}
	return nil
}

// sameOrigin reports whether rawURL is on the server's own external URL
// (scheme, host and port), which GitLab always allows.
func sameOrigin(rawURL, external string) bool {
	u, err1 := url.Parse(rawURL)
	e, err2 := url.Parse(external)
	if err1 != nil || err2 != nil || e.Host == "" {
		return false
	}
	return u.Scheme == e.Scheme && u.Hostname() == e.Hostname() && portOf(u) == portOf(e)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}
