package apid

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// eventTypePrefix is how machined names event payloads (talosctl rejects any other type URL).
const eventTypePrefix = "talos/runtime/"

var eventIDs atomic.Uint64

// Hub is one node's runtime event buffer, as machined keeps it: it starts empty at each boot, and
// subscribers see the tail they ask for and then every new event until the node goes down.
type Hub struct {
	mu     sync.Mutex
	events []*machine.Event
	subs   map[chan *machine.Event]struct{}
}

// NewHub returns an empty event buffer.
func NewHub() *Hub { return &Hub{subs: map[chan *machine.Event]struct{}{}} }

// Publish appends one event with its actor and hands it to every subscriber.
func (h *Hub) Publish(actor string, payload proto.Message) {
	data, err := anypb.New(payload)
	if err != nil {
		panic(err)
	}
	data.TypeUrl = eventTypePrefix + string(payload.ProtoReflect().Descriptor().FullName())
	ev := &machine.Event{Data: data, Id: fmt.Sprintf("lab%016x", eventIDs.Add(1)), ActorId: actor}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
	for ch := range h.subs {
		select {
		case ch <- ev:
		default: // a subscriber that does not read loses events, as with machined's ring buffer
		}
	}
}

// Subscribe returns the tail (all events for tail < 0, the last n for n > 0) and a channel of new
// ones that is closed when the node goes down.
func (h *Hub) Subscribe(tail int) ([]*machine.Event, chan *machine.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var past []*machine.Event
	switch {
	case tail < 0:
		past = append(past, h.events...)
	case tail > 0:
		past = append(past, h.events[max(0, len(h.events)-tail):]...)
	}
	ch := make(chan *machine.Event, 256)
	h.subs[ch] = struct{}{}
	return past, ch
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
func (h *Hub) PublishBoot() {
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
	h.Publish("", &machine.MachineStatusEvent{Stage: machine.MachineStatusEvent_RUNNING,
		Status: &machine.MachineStatusEvent_MachineStatus{Ready: true}})
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

// PublishUpgrade is the accepted upgrade's sequence, with the actor id the Upgrade call returned.
func (h *Hub) PublishUpgrade(actor, sequence string) {
	h.Publish(actor, &machine.SequenceEvent{Sequence: sequence, Action: machine.SequenceEvent_START})
	h.Publish("", &machine.MachineStatusEvent{Stage: machine.MachineStatusEvent_UPGRADING,
		Status: &machine.MachineStatusEvent_MachineStatus{}})
	for _, p := range upgradePhases {
		if sequence == "stageUpgrade" && (p.phase == "drain" || p.phase == "upgrade" || p.phase == "meta") {
			continue
		}
		h.Publish(actor, &machine.PhaseEvent{Phase: p.phase, Action: machine.PhaseEvent_START})
		if p.phase == "kexec" {
			h.Publish("", &machine.MachineStatusEvent{Stage: machine.MachineStatusEvent_REBOOTING,
				Status: &machine.MachineStatusEvent_MachineStatus{}})
		}
		h.Publish(actor, &machine.TaskEvent{Task: p.task, Action: machine.TaskEvent_START})
		if p.task == "stopAllServices" {
			return // the node goes down here; nothing after this reaches a client
		}
		h.Publish(actor, &machine.TaskEvent{Task: p.task, Action: machine.TaskEvent_STOP})
		h.Publish(actor, &machine.PhaseEvent{Phase: p.phase, Action: machine.PhaseEvent_STOP})
	}
}

// PublishReboot is the reboot sequence up to the point the node goes down.
func (h *Hub) PublishReboot(actor string) {
	h.Publish(actor, &machine.SequenceEvent{Sequence: "reboot", Action: machine.SequenceEvent_START})
	h.Publish("", &machine.MachineStatusEvent{Stage: machine.MachineStatusEvent_REBOOTING,
		Status: &machine.MachineStatusEvent_MachineStatus{}})
	h.Publish(actor, &machine.PhaseEvent{Phase: "stopEverything", Action: machine.PhaseEvent_START})
	h.Publish(actor, &machine.TaskEvent{Task: "stopAllServices", Action: machine.TaskEvent_START})
}
