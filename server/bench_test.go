package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/raftchat/raftchat/proto/commandpb"
)

// BenchmarkPropose64 measures committed chat messages per second through server.Node on a
// 3-node loopback cluster with fsync: 64 concurrent proposers spread over all three nodes,
// each posting 256-byte messages into its own group. Run it on its own:
//
//	go test -run '^$' -bench Propose64 -benchtime 20000x ./server/
func BenchmarkPropose64(b *testing.B) { benchmarkPropose(b, 64) }

// BenchmarkPropose1 is the single-client case; the proposer talks to node 1, whatever its role.
func BenchmarkPropose1(b *testing.B) { benchmarkPropose(b, 1) }

func benchmarkPropose(b *testing.B, proposers int) {
	c := newTestCluster(b, 3)
	c.waitLeader()
	ctx := context.Background()
	convs := make([]string, proposers)
	for p := range proposers {
		user := fmt.Sprintf("bench%d", p)
		if res := c.propose(0, createUser(user, uint64(p+1))); res.GetCode() != commandpb.ErrorCode_OK {
			b.Fatalf("create %s: %s", user, res.GetError())
		}
		res := c.propose(0, &commandpb.Command{Actor: user,
			Op: &commandpb.Command_CreateGroup{CreateGroup: &commandpb.CreateGroup{Name: user}}})
		if res.GetCode() != commandpb.ErrorCode_OK {
			b.Fatalf("create group: %s", res.GetError())
		}
		convs[p] = res.GetConversation().GetConversationId()
	}
	text := strings.Repeat("x", 256)
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for p := range proposers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := c.nodes[p%3]
			for k := uint64(1); next.Add(1) <= int64(b.N); k++ {
				cmd := &commandpb.Command{ClientId: fmt.Sprintf("bench-%d", p), RequestId: k,
					Actor: fmt.Sprintf("bench%d", p),
					Op: &commandpb.Command_PostMessage{PostMessage: &commandpb.PostMessage{
						ConversationId: convs[p], Text: text}}}
				res, err := n.Propose(ctx, cmd)
				if err != nil || res.GetCode() != commandpb.ErrorCode_OK {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d proposals failed", failed.Load())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "proposals/s")
	var syncs, entries float64
	for _, n := range c.nodes {
		var h, e dto.Metric
		_ = n.m.fsyncSeconds.Write(&h)
		_ = n.m.savedEntries.Write(&e)
		syncs += float64(h.GetHistogram().GetSampleCount())
		entries += e.GetCounter().GetValue()
	}
	b.ReportMetric(syncs/elapsed.Seconds()/3, "fsyncs/s/node")
	b.ReportMetric(entries/syncs, "entries/fsync")
}
