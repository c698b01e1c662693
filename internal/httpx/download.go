package httpx

import (
	"archive/zip"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// Attachment is a Content-Disposition header as Rails'
// ActionDispatch::Http::ContentDisposition.format writes it: the
// percent-escaped name, quoted, then the RFC 5987 form.
func Attachment(name string) string {
	return `attachment; filename="` + percentEscape(name, " !#$+.^_`|~-") + `"; filename*=UTF-8''` +
		percentEscape(name, "!#$&+.^_`|~-")
}

// percentEscape escapes every byte but ASCII letters, digits and keep.
func percentEscape(s, keep string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// ServeArchive sends a job's whole artifacts archive as a download;
// http.ServeContent adds Range and conditional requests, which download
// tools use to resume.
func ServeArchive(w http.ResponseWriter, r *http.Request, name string, modtime time.Time, content io.ReadSeeker) {
	if name == "" {
		name = "artifacts.zip"
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", Attachment(name))
	http.ServeContent(w, r, "", modtime, content)
}

// ServeZipEntry sends one file out of a zip archive as a download, as
// Workhorse's artifacts entry handler does (the API's artifact file routes
// and the UI's artifact browser share it). Only the entry is decompressed,
// streamed; the archive is never read whole.
func ServeZipEntry(w http.ResponseWriter, r *http.Request, zf *zip.File) error {
	rc, err := zf.Open()
	if err != nil {
		return fmt.Errorf("open %q: %w", zf.Name, err)
	}
	defer rc.Close()
	base := path.Base(zf.Name)
	ctype := mime.TypeByExtension(path.Ext(base))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", Attachment(base))
	// The bytes are the job's, not ours: never let a browser sniff them
	// into something executable.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.FormatUint(zf.UncompressedSize64, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		// Headers are gone; a copy failure can only cut the body short.
		_, _ = io.Copy(w, rc)
	}
	return nil
}
