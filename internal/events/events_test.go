package events

import (
	"testing"

	"github.com/gantryci/gantry/internal/ci"
)

func TestBus(t *testing.T) {
	t.Parallel()
	var b Bus
	job, cancelJob := b.Subscribe(ForJob(7), 4)
	pipe, cancelPipe := b.Subscribe(ForPipeline(3), 1)
	defer cancelPipe()
	var hooked []Event
	b.OnEvent(func(e Event) { hooked = append(hooked, e) })

	pending := Job(&ci.Job{ID: 7, PipelineID: 3, Status: ci.StatusPending}, ci.StatusCreated)
	b.Publish(pending, Event{Kind: TraceAppended, JobID: 7}, Event{Kind: PipelineChanged, PipelineID: 3})
	if len(job) != 2 || (<-job) != pending {
		t.Fatalf("job subscriber got %d events", len(job))
	}
	// The pipeline subscriber's buffer of one kept the first event and
	// dropped the rest instead of blocking Publish.
	if len(pipe) != 1 || (<-pipe) != pending {
		t.Fatal("pipeline subscriber: want only the first event")
	}
	if len(hooked) != 3 || !hooked[0].WakesRunners() || hooked[1].WakesRunners() {
		t.Fatalf("hook saw %+v", hooked)
	}
	cancelJob()
	cancelJob()
	b.Publish(pending)
	if len(job) != 1 { // the one left unread before cancel
		t.Fatalf("canceled subscriber still receives: %d", len(job))
	}
	bridge := Job(&ci.Job{Kind: ci.KindBridge, Status: ci.StatusPending}, ci.StatusCreated)
	if bridge.WakesRunners() {
		t.Fatal("a pending bridge wakes runners")
	}
}
