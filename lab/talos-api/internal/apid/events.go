package apid

import (
	"fmt"
	"sync"

	"github.com/rs/xid"
	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// eventTypePrefix is how machined names event payloads (talosctl rejects any other type URL).
const eventTypePrefix = "talos/runtime/"

// Hub is one node's runtime event buffer, as machined keeps it: it starts empty at each boot, and
// subscribers see the tail they ask for and then every new event until the node goes down.
type Hub struct {
	mu     sync.Mutex
	gen    uint64
	events []*machine.Event
	subs   map[chan *machine.Event]struct{}
}

// Generation identifies the current boot's buffer: events meant for an earlier boot are dropped.
func (h *Hub) Generation() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gen
}

// NewHub returns an empty event buffer.
func NewHub() *Hub { return &Hub{subs: map[chan *machine.Event]struct{}{}} }

// Publish appends one event with its actor and hands it to every subscriber.
func (h *Hub) Publish(actor string, payload proto.Message) {
	h.publishAt(h.Generation(), actor, payload)
}

func (h *Hub) publishAt(gen uint64, actor string, payload proto.Message) {
	data, err := anypb.New(payload)
	if err != nil {
		panic(err)
	}
	data.TypeUrl = eventTypePrefix + string(payload.ProtoReflect().Descriptor().FullName())
	// machined's event IDs are xids (internal/app/machined/pkg/runtime/events.go, v1.14.1): ordered by
	// time, so across reboots too, which talosctl 1.14's tracker resumes from with tail_id.
	ev := &machine.Event{Data: data, Id: xid.New().String(), ActorId: actor}
	h.mu.Lock()
	defer h.mu.Unlock()
	if gen != h.gen {
		return // the boot it belonged to is over
	}
	h.events = append(h.events, ev)
	for ch := range h.subs {
		select {
		case ch <- ev:
		default: // a subscriber that does not read loses events, as with machined's ring buffer
		}
	}
}

// Subscribe returns the tail (all events for tail < 0, the last n for n > 0, or with tailID every one
// after that event, as machined's Events.Watch chooses, v1alpha1_events.go at v1.14.1) and a channel of
// new ones that is closed when the node goes down.
func (h *Hub) Subscribe(tail int, tailID string) ([]*machine.Event, chan *machine.Event, error) {
	after, err := parseTailID(tailID)
	if err != nil {
		return nil, nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var past []*machine.Event
	switch {
	case tail < 0:
		past = append(past, h.events...)
	case tail > 0:
		past = append(past, h.events[max(0, len(h.events)-tail):]...)
	case !after.IsNil():
		for _, ev := range h.events {
			if id, _ := xid.FromString(ev.Id); id.Compare(after) > 0 {
				past = append(past, ev)
			}
		}
	}
	ch := make(chan *machine.Event, 256)
	h.subs[ch] = struct{}{}
	return past, ch, nil
}

// parseTailID reads a request's tail_id as machined does: an xid, or an error for the stream.
func parseTailID(tailID string) (xid.ID, error) {
	if tailID == "" {
		return xid.NilID(), nil
	}
	id, err := xid.FromString(tailID)
	if err != nil {
		return id, fmt.Errorf("error parsing tail_id: %w", err)
	}
	return id, nil
}

// Unsubscribe stops delivery to ch.
func (h *Hub) Unsubscribe(ch chan *machine.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
}

// Down ends every subscription and forgets the buffer: the node's memory is gone with its power.
func (h *Hub) Down() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		close(ch)
	}
	h.subs = map[chan *machine.Event]struct{}{}
	h.events = nil
	h.gen++
}

// bootPhases is the boot sequence's phases as machined runs them (v1alpha1_sequencer.go Boot).
var bootPhases = []struct{ phase, task string }{
	{"saveStateEncryptionConfig", "saveStateEncryptionConfig"},
	{"mountState", "mountStatePartition"},
	{"userDisks", "mountUserDisks"},
	{"services", "startEverything"},
}

// PublishBoot is what a node tells its subscribers as it boots, ending in the running, ready
// machine status that `talosctl upgrade --wait` waits for.
func (h *Hub) PublishBoot(ready bool) {
	h.Publish("", &machine.MachineStatusEvent{Stage: machine.MachineStatusEvent_BOOTING,
		Status: &machine.MachineStatusEvent_MachineStatus{}})
	h.Publish("", &machine.SequenceEvent{Sequence: "boot", Action: machine.SequenceEvent_START})
	for _, p := range bootPhases {
		h.Publish("", &machine.PhaseEvent{Phase: p.phase, Action: machine.PhaseEvent_START})
		h.Publish("", &machine.TaskEvent{Task: p.task, Action: machine.TaskEvent_START})
		h.Publish("", &machine.TaskEvent{Task: p.task, Action: machine.TaskEvent_STOP})
		h.Publish("", &machine.PhaseEvent{Phase: p.phase, Action: machine.PhaseEvent_STOP})
	}
	h.Publish("", &machine.SequenceEvent{Sequence: "boot", Action: machine.SequenceEvent_STOP})
	status := &machine.MachineStatusEvent_MachineStatus{Ready: ready}
	if !ready {
		status.UnmetConditions = []*machine.MachineStatusEvent_MachineStatus_UnmetCondition{
			{Name: "nodeReady", Reason: "node is not ready"},
		}
	}
	h.Publish("", &machine.MachineStatusEvent{Stage: machine.MachineStatusEvent_RUNNING, Status: status})
}

// upgradePhases is the upgrade sequence (v1alpha1_sequencer.go Upgrade) up to the reboot.
var upgradePhases = []struct{ phase, task string }{
	{"drain", "cordonAndDrainNode"},
	{"cleanup", "stopAllPods"},
	{"dbus", "stopDBus"},
	{"stopServices", "stopServicesForUpgrade"},
	{"unmount", "unmountPodMounts"},
	{"unmountBind", "unmountSystemDiskBindMounts"},
	{"unmountSystem", "unmountEphemeralPartition"},
	{"volumeFinalize", "teardownLifecycle"},
	{"upgrade", "upgrade"},
	{"meta", "reloadMeta"},
	{"kexec", "kexecPrepare"},
	{"stopEverything", "stopAllServices"},
}

// PublishUpgrade is the accepted upgrade's sequence, with the actor id the Upgrade call returned,
// into the boot `gen` it was accepted in. An installer that fails (installerErr, its task's error) ends
// the sequence at its phase: the task, the phase and the sequence stop, then machined publishes the
// sequence's failure and reboots (v1alpha1_controller.go Run and run at v1.11.3 and v1.12.5; the
// phase counts every phase of the sequence, 9 of 13 for "upgrade").
func (h *Hub) PublishUpgrade(gen uint64, actor, sequence, installerErr string) {
	publish := func(actor string, payload proto.Message) { h.publishAt(gen, actor, payload) }
	publish(actor, &machine.SequenceEvent{Sequence: sequence, Action: machine.SequenceEvent_START})
	publish("", &machine.MachineStatusEvent{Stage: machine.MachineStatusEvent_UPGRADING,
		Status: &machine.MachineStatusEvent_MachineStatus{}})
	for i, p := range upgradePhases {
		if sequence == "stageUpgrade" && (p.phase == "drain" || p.phase == "upgrade" || p.phase == "meta") {
			continue
		}
		publish(actor, &machine.PhaseEvent{Phase: p.phase, Action: machine.PhaseEvent_START})
		if p.phase == "kexec" {
			publish("", &machine.MachineStatusEvent{Stage: machine.MachineStatusEvent_REBOOTING,
				Status: &machine.MachineStatusEvent_MachineStatus{}})
		}
		publish(actor, &machine.TaskEvent{Task: p.task, Action: machine.TaskEvent_START})
		if p.task == "stopAllServices" {
			return // the node goes down here; nothing after this reaches a client
		}
		publish(actor, &machine.TaskEvent{Task: p.task, Action: machine.TaskEvent_STOP})
		publish(actor, &machine.PhaseEvent{Phase: p.phase, Action: machine.PhaseEvent_STOP})
		if p.phase == "upgrade" && installerErr != "" {
			publish(actor, &machine.SequenceEvent{Sequence: sequence, Action: machine.SequenceEvent_STOP})
			publish(actor, &machine.SequenceEvent{Sequence: sequence, Action: machine.SequenceEvent_NOOP,
				Error: &common.Error{Code: common.Code_FATAL, Message: fmt.Sprintf(
					"sequence failed: error running phase %d in %s sequence: task 1/1: failed, %s",
					i+1, sequence, installerErr)}})
			publish("", &machine.MachineStatusEvent{Stage: machine.MachineStatusEvent_REBOOTING,
				Status: &machine.MachineStatusEvent_MachineStatus{}})
			return
		}
	}
}

// PublishReboot is the reboot sequence up to the point the node goes down.
func (h *Hub) PublishReboot(gen uint64, actor string) {
	h.publishAt(gen, actor, &machine.SequenceEvent{Sequence: "reboot", Action: machine.SequenceEvent_START})
	h.publishAt(gen, "", &machine.MachineStatusEvent{Stage: machine.MachineStatusEvent_REBOOTING,
		Status: &machine.MachineStatusEvent_MachineStatus{}})
	h.publishAt(gen, actor, &machine.PhaseEvent{Phase: "stopEverything", Action: machine.PhaseEvent_START})
	h.publishAt(gen, actor, &machine.TaskEvent{Task: "stopAllServices", Action: machine.TaskEvent_START})
}
