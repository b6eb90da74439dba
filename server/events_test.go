package server

import (
	"testing"

	"github.com/raftchat/raftchat/proto/commandpb"
)

func TestEventLog(t *testing.T) {
	l := newEventLog(10, 4) // applied 10: the next event is 11
	if evs, wake, gone := l.read(11, 100); len(evs) != 0 || wake == nil || gone {
		t.Fatalf("empty log: %v %v %v", evs, wake, gone)
	}
	_, wake, _ := l.read(11, 100)
	for i := uint64(11); i <= 17; i++ {
		l.append(i, &commandpb.Command{RequestId: i}, nil)
	}
	select {
	case <-wake:
		t.Fatal("woken before publish")
	default:
	}
	l.publish()
	<-wake // closed by publish
	// 7 events with retention 4: trimming happens at 2*retain, so 11..17 are all still here.
	evs, _, gone := l.read(12, 3)
	if gone || len(evs) != 3 || evs[0].index != 12 || evs[2].cmd.GetRequestId() != 14 {
		t.Fatalf("read(12, 3) = %+v, gone %v", evs, gone)
	}
	l.append(18, nil, nil) // 8 = 2*retain events: keep the newest 4, 15..18
	if _, _, gone := l.read(14, 10); !gone {
		t.Fatal("read of a trimmed index not reported gone")
	}
	if evs, _, _ := l.read(15, 10); len(evs) != 4 || evs[3].index != 18 {
		t.Fatalf("read(15) = %+v", evs)
	}
	// A jump (a snapshot was installed) drops everything before it.
	l.append(30, nil, nil)
	if _, _, gone := l.read(18, 10); !gone {
		t.Fatal("index before a snapshot jump not reported gone")
	}
	if evs, _, _ := l.read(30, 10); len(evs) != 1 || evs[0].index != 30 {
		t.Fatalf("read(30) = %+v", evs)
	}
	if evs, wake, gone := l.read(40, 10); len(evs) != 0 || wake == nil || gone {
		t.Fatal("a future index must wait")
	}
}

// TestEventLogSkipsRetriedCommands: a command applied again under its request id (a resend
// after a leader change) is answered from its session and must not reach subscribers twice.
func TestEventLogSkipsRetriedCommands(t *testing.T) {
	l := newEventLog(0, 100)
	cmd := &commandpb.Command{ClientId: "c", RequestId: 7}
	l.append(1, cmd, &commandpb.Result{Index: 1})
	l.append(2, cmd, &commandpb.Result{Index: 1}) // the duplicate: its first result
	l.append(3, &commandpb.Command{ClientId: "c", RequestId: 8}, &commandpb.Result{Index: 3})
	evs, _, _ := l.read(1, 10)
	if len(evs) != 3 || evs[0].cmd == nil || evs[1].cmd != nil || evs[1].res != nil || evs[2].cmd == nil {
		t.Fatalf("events %+v: want the duplicate at index 2 kept empty", evs)
	}
}

func TestSignalWakesEveryWaiterOnce(t *testing.T) {
	var s signal
	a, b := s.wait(), s.wait()
	select {
	case <-a:
		t.Fatal("woken before fire")
	default:
	}
	s.fire()
	<-a
	<-b
	c := s.wait()
	select {
	case <-c:
		t.Fatal("a wait after fire is woken by the earlier fire")
	default:
	}
	s.fire()
	<-c
}
