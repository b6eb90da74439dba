package node

import (
	"crypto/sha256"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/raftchat/raftchat/proto/commandpb"
	"github.com/raftchat/raftchat/raft"
)

// Process carries out every pending Ready, in the order Raft requires: persist the snapshot,
// entries and hard state (synced when MustSync), send the messages, apply the snapshot and
// the committed entries, answer the reads whose index is applied, then Advance. Callbacks of
// Propose, ReadIndex and OnApply run from here.
//
// With Config.Writer, a leader's Ready that changes neither term nor vote is written in the
// background instead (raft.RawNode.AdvanceWriting): Process returns without waiting for the
// disk, and a later Process collects the finished writes. Any other Ready first waits for
// the background writes, so saves reach the disk in order.
func (r *Replica) Process() error {
	defer r.noteRaftHardState()
	r.drained = false
	if err := r.collectWrites(); err != nil {
		return err
	}
	if err := r.advanceSnapshot(false); err != nil {
		return err
	}
	r.FlushProposals()
	r.runLater()
	var appliedBytes uint64
	for r.rn.HasReady() {
		if budget := r.cfg.ApplyBudgetBytes; budget > 0 && appliedBytes >= budget {
			return nil // the rest next time (Pending)
		}
		rd := r.rn.Ready()
		// The helpers below take rd by pointer: a Ready is 200 bytes, and this loop
		// runs after every simulated event.
		early := r.canSendBeforePersist(&rd)
		if early && len(rd.Messages) > 0 {
			r.cfg.Send(rd.Messages)
		}
		background := early && r.cfg.Writer != nil && rd.Snapshot.IsEmpty()
		if background {
			r.persistInBackground(&rd)
		} else {
			if err := r.waitWrites(); err != nil {
				return err
			}
			if err := r.persist(&rd); err != nil {
				return err
			}
		}
		if !early && len(rd.Messages) > 0 {
			r.cfg.Send(rd.Messages)
		}
		if err := r.apply(&rd); err != nil {
			return err
		}
		for i := range rd.CommittedEntries {
			appliedBytes += uint64(len(rd.CommittedEntries[i].Data))
		}
		r.noteReadStates(rd.ReadStates)
		r.serveReads()
		if background {
			r.rn.AdvanceWriting(rd)
		} else {
			r.rn.Advance(rd)
		}
		if err := r.maybeSnapshot(); err != nil {
			return err
		}
		r.runLater()
	}
	r.drained = true
	return nil
}

// Pending reports whether Process left work for its next call (Config.ApplyBudgetBytes).
func (r *Replica) Pending() bool { return r.rn.HasReady() }

// PendingAfterProcess is Pending for a caller that asks right after Process returned, having
// handed the replica nothing since: when that call ended because Raft had nothing ready, it
// answers without asking Raft again (a driver asks after every Process).
func (r *Replica) PendingAfterProcess() bool { return !r.drained && r.rn.HasReady() }

// WritesInBackground reports whether this replica's next Ready is likely to be written in
// the background (it leads and has a Writer), so a driver need not keep its peer traffic
// apart from new proposals to keep either from waiting behind an fsync.
func (r *Replica) WritesInBackground() bool {
	return r.cfg.Writer != nil && r.soft.RaftState == raft.StateLeader
}

// persistInBackground hands rd's entries and hard state to the writer. Raft's in-memory
// storage takes the entries at once, so they can be sent to followers.
func (r *Replica) persistInBackground(rd *raft.Ready) {
	if rd.SoftState != nil {
		r.soft = *rd.SoftState
	}
	if len(rd.Entries) == 0 && rd.HardState.IsEmpty() {
		return
	}
	if err := r.storage.Append(rd.Entries); err != nil {
		panic(fmt.Sprintf("node %d: append to raft storage: %v", r.cfg.ID, err))
	}
	if !rd.HardState.IsEmpty() {
		// Term and vote are unchanged (or the Ready would not be written in the background);
		// only the commit index is new, and it needs no durability: the entries up to it
		// are on a quorum's disks.
		r.hard = rd.HardState
		if err := r.storage.SetHardState(rd.HardState); err != nil {
			panic(fmt.Sprintf("node %d: set hard state: %v", r.cfg.ID, err))
		}
	}
	var last raft.Entry
	if n := len(rd.Entries); n > 0 {
		last = rd.Entries[n-1]
	}
	r.writes = append(r.writes, last)
	r.cfg.Writer.Write(rd.HardState, rd.Entries, rd.MustSync)
}

// collectWrites tells Raft about the background saves that completed.
func (r *Replica) collectWrites() error {
	if len(r.writes) == 0 {
		return nil
	}
	n, err := r.cfg.Writer.Written()
	if err != nil {
		return fmt.Errorf("node %d: background save: %w", r.cfg.ID, err)
	}
	r.completeWrites(n)
	return nil
}

// waitWrites waits for every background save and tells Raft about them.
func (r *Replica) waitWrites() error {
	if len(r.writes) == 0 {
		return nil
	}
	if err := r.cfg.Writer.Wait(); err != nil {
		return fmt.Errorf("node %d: background save: %w", r.cfg.ID, err)
	}
	if err := r.collectWrites(); err != nil {
		return err
	}
	if len(r.writes) > 0 {
		return fmt.Errorf("node %d: writer drained with %d saves outstanding", r.cfg.ID, len(r.writes))
	}
	return nil
}

// completeWrites retires the queued saves up to the writer's count n and tells Raft the last
// entry among them is durable (a save with entries is always synced, and covers every save
// queued before it).
func (r *Replica) completeWrites(n uint64) {
	var durable raft.Entry
	k := 0
	for r.writesDone < n && k < len(r.writes) {
		if last := r.writes[k]; last.Index != 0 {
			durable = last
		}
		k++
		r.writesDone++
	}
	// Shift the rest down rather than reslicing forward, so the queue keeps its array (a
	// leader queues a save per Ready); it is short, a few saves in flight at most.
	rest := copy(r.writes, r.writes[k:])
	clear(r.writes[rest:])
	r.writes = r.writes[:rest]
	if durable.Index != 0 {
		r.rn.Persisted(durable.Index, durable.Term)
	}
}

// canSendBeforePersist reports whether rd's messages may leave before rd is durable: the
// leader writes its own log in parallel with replicating it (Raft thesis §10.2.1), which
// takes one fsync off every commit's critical path. It is safe because a leader's messages
// (appends, heartbeats, snapshots, read-index answers, transfer and vote refusals) promise
// nothing about its own disk: raft counts the leader's copy of an entry towards commitment
// only at Advance, after the write. A Ready that changes the term or the vote, or in which
// this node stops leading, may carry promises that need the write first, so it waits.
func (r *Replica) canSendBeforePersist(rd *raft.Ready) bool {
	role := r.soft.RaftState
	if rd.SoftState != nil {
		role = rd.RaftState
	}
	if role != raft.StateLeader {
		return false
	}
	hs := rd.HardState
	return hs.IsEmpty() || (hs.Term == r.hard.Term && hs.Vote == r.hard.Vote)
}

// noteRaftHardState caches Raft's in-memory term and vote, which may differ from the
// persisted ones only through a bug (checkers compare the two).
func (r *Replica) noteRaftHardState() {
	r.raftHard = r.rn.HardState()
}

func (r *Replica) runLater() {
	for len(r.later) > 0 {
		fns := r.later
		r.later = nil
		for _, f := range fns {
			f()
		}
	}
}

func (r *Replica) persist(rd *raft.Ready) error {
	if rd.SoftState != nil {
		r.soft = *rd.SoftState
	}
	if !rd.Snapshot.IsEmpty() {
		// A leader's snapshot replaces ours: our own save, if one is in progress, must not
		// land after it.
		if err := r.advanceSnapshot(true); err != nil {
			return err
		}
		if err := r.cfg.Log.SaveSnapshot(rd.Snapshot); err != nil {
			return fmt.Errorf("node %d: save snapshot %d: %w", r.cfg.ID, rd.Snapshot.Metadata.Index, err)
		}
		if err := r.storage.ApplySnapshot(rd.Snapshot); err != nil {
			return fmt.Errorf("node %d: apply snapshot to raft storage: %w", r.cfg.ID, err)
		}
		// The state machine restores from rd.Snapshot; Raft's storage need not keep a copy.
		r.releaseSnapshotData(rd.Snapshot.Metadata.Index)
	}
	if len(rd.Entries) > 0 || !rd.HardState.IsEmpty() {
		if err := r.cfg.Log.Save(rd.HardState, rd.Entries, rd.MustSync); err != nil {
			return fmt.Errorf("node %d: save %d entries: %w", r.cfg.ID, len(rd.Entries), err)
		}
	}
	if err := r.storage.Append(rd.Entries); err != nil {
		return fmt.Errorf("node %d: append to raft storage: %w", r.cfg.ID, err)
	}
	if !rd.HardState.IsEmpty() {
		r.hard = rd.HardState
		if err := r.storage.SetHardState(rd.HardState); err != nil {
			return fmt.Errorf("node %d: set hard state: %w", r.cfg.ID, err)
		}
	}
	return nil
}

func (r *Replica) apply(rd *raft.Ready) error {
	if !rd.Snapshot.IsEmpty() {
		if err := r.sm.Restore(rd.Snapshot.Data); err != nil {
			return fmt.Errorf("node %d: restore snapshot %d: %w", r.cfg.ID, rd.Snapshot.Metadata.Index, err)
		}
		r.applied, r.lastSnap = rd.Snapshot.Metadata.Index, rd.Snapshot.Metadata.Index
		r.lastSnapBytes, r.logBytes = uint64(len(rd.Snapshot.Data)), 0
		if len(rd.Snapshot.Metadata.ConfState.Voters) > 0 {
			r.conf = rd.Snapshot.Metadata.ConfState
		}
		for _, h := range r.restoreHooks {
			h(r.applied)
		}
	}
	for _, e := range rd.CommittedEntries {
		if e.Index <= r.applied {
			continue
		}
		if e.Index != r.applied+1 {
			panic(fmt.Sprintf("node %d: applying entry %d after %d", r.cfg.ID, e.Index, r.applied))
		}
		r.applyEntry(e)
	}
	return nil
}

func (r *Replica) applyEntry(e raft.Entry) {
	r.applied = e.Index
	r.logBytes += uint64(len(e.Data))
	idx := uint64(e.Index)
	for _, h := range r.entryHooks {
		h(e)
	}
	if e.Type == raft.EntryConfChange {
		r.applyConfChange(e)
	}
	if e.Type != raft.EntryNormal || len(e.Data) == 0 {
		// Raft's no-op on election and configuration changes carry no command; the machine
		// only advances its applied index.
		res := r.sm.Apply(idx, nil)
		r.runHooks(idx, nil, res)
		return
	}
	cmd, err := r.decode(e.Data)
	if err != nil {
		// The machine rejects it as malformed; there is nobody to answer.
		r.runHooks(idx, nil, r.sm.Apply(idx, e.Data))
		return
	}
	if up := cmd.GetUploadChunk(); up != nil && r.cfg.Blobs != nil {
		r.storeChunk(idx, up)
	}
	res := r.sm.ApplyCommand(idx, cmd)
	r.runHooks(idx, cmd, res)
	r.completeProps(propKey{cmd.GetClientId(), cmd.GetRequestId()}, res)
}

// applyConfChange makes a committed membership change current in Raft and here.
func (r *Replica) applyConfChange(e raft.Entry) {
	cc, cs, err := r.rn.ApplyConfChange(e.Data)
	if err != nil {
		// Only a leader writes change entries, always well formed; every replica skips a
		// corrupt one alike, so they stay in agreement.
		if r.cfg.Logger != nil {
			r.cfg.Logger.Warn("configuration change entry ignored", "node", r.cfg.ID, "index", uint64(e.Index), "err", err)
		}
		return
	}
	r.conf = cs
	for _, h := range r.confHooks {
		h(cc, cs)
	}
}

// decode decodes an entry's command, through Config.DecodeCommand when set.
func (r *Replica) decode(data []byte) (*commandpb.Command, error) {
	if r.cfg.DecodeCommand != nil {
		return r.cfg.DecodeCommand(data)
	}
	cmd := &commandpb.Command{}
	if err := proto.Unmarshal(data, cmd); err != nil {
		return nil, err
	}
	return cmd, nil
}

func (r *Replica) runHooks(idx uint64, cmd *commandpb.Command, res *commandpb.Result) {
	for _, h := range r.hooks {
		h(idx, cmd, res)
	}
}

// storeChunk puts a chunk's bytes in the blob store before the machine records the chunk, so
// a completed upload's bytes are always present. Bytes that do not match the declared sum
// are left for the machine to reject.
func (r *Replica) storeChunk(idx uint64, up *commandpb.UploadChunk) {
	sum := sha256.Sum256(up.GetData())
	if string(sum[:]) != string(up.GetSha256()) || r.cfg.Blobs.Has(sum) {
		return
	}
	if err := r.cfg.Blobs.Put(sum, up.GetData()); err != nil && r.cfg.Logger != nil {
		r.cfg.Logger.Error("store chunk", "node", r.cfg.ID, "index", idx, "err", err)
	}
}

// maybeSnapshot takes a state-machine snapshot once SnapshotEveryEntries entries applied
// since the last one, stores it durably and compacts the in-memory log, keeping a tail. With
// Config.Snapshots it only starts the snapshot (see SnapshotSaver): advanceSnapshot carries it
// on at later passes.
func (r *Replica) maybeSnapshot() error {
	if r.applied-r.lastSnap < raft.Index(r.cfg.SnapshotEveryEntries) || r.snap != snapIdle {
		return nil // not due, or the last one is still in progress (one at a time)
	}
	if ratio := r.cfg.SnapshotLogRatio; ratio > 0 && float64(r.logBytes) < ratio*float64(r.lastSnapBytes) {
		return nil
	}
	// The snapshot may release log segments: background saves finish first, in order.
	if err := r.waitWrites(); err != nil {
		return err
	}
	if st, ok := r.streamer(); ok {
		return r.startStream(st)
	}
	if r.cfg.Snapshots != nil {
		// The machine stays as it is until the encoding is done: no entry is applied
		// meanwhile (Raft goes on replicating and committing them).
		r.snapIndex, r.snapConf, r.snap = r.applied, r.conf, snapEncoding
		r.rn.PauseApply(true)
		r.cfg.Snapshots.Encode(r.sm.Snapshot)
		return nil
	}
	data, err := r.sm.Snapshot()
	if err != nil {
		return fmt.Errorf("node %d: snapshot state machine at %d: %w", r.cfg.ID, r.applied, err)
	}
	snap, err := r.installOwnSnapshot(r.applied, r.conf, data)
	if err != nil {
		return err
	}
	if err := r.cfg.Log.SaveSnapshot(snap); err != nil {
		return fmt.Errorf("node %d: save snapshot at %d: %w", r.cfg.ID, r.applied, err)
	}
	r.releaseSnapshotData(snap.Metadata.Index)
	return nil
}

// streamer returns Config.Snapshots as a SnapshotStreamer if it is one and the LogStore can
// read snapshots back, which a snapshot streamed to it never held in memory needs.
func (r *Replica) streamer() (SnapshotStreamer, bool) {
	st, ok := r.cfg.Snapshots.(SnapshotStreamer)
	if !ok {
		return nil, false
	}
	_, ok = r.cfg.Log.(SnapshotReader)
	return st, ok
}

// startStream starts a snapshot of the applied state streamed to stable storage
// (SnapshotStreamer); advanceStream carries it on.
func (r *Replica) startStream(st SnapshotStreamer) error {
	term, err := r.storage.Term(r.applied)
	if err != nil {
		return fmt.Errorf("node %d: snapshot at %d: term: %w", r.cfg.ID, r.applied, err)
	}
	r.snapIndex, r.snapConf, r.snap = r.applied, r.conf, snapStreaming
	meta := raft.SnapshotMetadata{Index: r.applied, Term: term, ConfState: r.conf.Clone()}
	// The machine stays as it is until the stream is done: no entry is applied meanwhile
	// (Raft goes on replicating and committing them).
	r.rn.PauseApply(true)
	r.streamEncoded.Store(false)
	sm := r.sm
	st.Stream(meta, func(w io.Writer) error {
		_, err := sm.WriteSnapshot(w)
		r.streamEncoded.Store(true) // the machine is not read again: applying may resume
		return err
	})
	return nil
}

// advanceStream carries a streamed snapshot on (see advanceSnapshot): applying resumes once
// the encoder is done with the machine; once the snapshot is durable its metadata goes into
// Raft's storage, the data to be read back from the LogStore.
func (r *Replica) advanceStream(replaced bool) error {
	st := r.cfg.Snapshots.(SnapshotStreamer)
	if replaced {
		_ = st.Wait() // its error is the stream's, which Streamed reports
	}
	size, done, err := st.Streamed()
	if !done {
		if r.streamEncoded.Load() {
			// Written out: the flush, fsync and rename need the machine no more. The
			// snapshot enters Raft's storage only once durable (below).
			r.rn.PauseApply(false)
		}
		return nil
	}
	r.rn.PauseApply(false)
	r.snap = snapIdle
	if err != nil {
		return fmt.Errorf("node %d: stream snapshot at %d: %w", r.cfg.ID, r.snapIndex, err)
	}
	if replaced {
		return nil // durable, but the leader's snapshot takes its place in Raft's storage
	}
	if size == 0 {
		// The store kept a snapshot at least as new and wrote nothing: there is no file for
		// this one to read back, so Raft's storage keeps what it has.
		if r.cfg.Logger != nil {
			r.cfg.Logger.Warn("snapshot stream stored nothing; keeping the previous snapshot", "node", r.cfg.ID, "index", uint64(r.snapIndex))
		}
		return nil
	}
	if _, err := r.installOwnSnapshot(r.snapIndex, r.snapConf, nil); err != nil {
		return err
	}
	r.lastSnapBytes = size
	r.releaseSnapshotData(r.snapIndex)
	return nil
}

// releaseSnapshotData drops the in-memory copy of the snapshot at index, which is now
// durable, if the LogStore can read it back (SnapshotReader).
func (r *Replica) releaseSnapshotData(index raft.Index) {
	reader, ok := r.cfg.Log.(SnapshotReader)
	if !ok {
		return
	}
	warned := false // Raft asks again at every heartbeat response: say it once
	r.storage.ReleaseSnapshotData(index, func(m raft.SnapshotMetadata) ([]byte, error) {
		data, err := reader.ReadSnapshot(m)
		if err != nil && !warned && r.cfg.Logger != nil {
			warned = true
			r.cfg.Logger.Warn("cannot read back the snapshot for a lagging follower; retrying", "index", uint64(m.Index), "err", err)
		}
		return data, err
	})
}

// installOwnSnapshot puts a snapshot of this replica's state at index in Raft's storage (a
// lagging follower is sent it from there) and compacts the in-memory log, keeping a tail.
func (r *Replica) installOwnSnapshot(index raft.Index, conf raft.ConfState, data []byte) (raft.Snapshot, error) {
	snap, err := r.storage.CreateSnapshot(index, &conf, data)
	if err != nil {
		return raft.Snapshot{}, fmt.Errorf("node %d: create snapshot at %d: %w", r.cfg.ID, index, err)
	}
	r.lastSnap = index
	r.lastSnapBytes, r.logBytes = uint64(len(data)), 0
	if tail := raft.Index(r.cfg.CompactionTailEntries); index > tail {
		if err := r.storage.Compact(index - tail); err != nil {
			return raft.Snapshot{}, fmt.Errorf("node %d: compact at %d: %w", r.cfg.ID, index-tail, err)
		}
	}
	return snap, nil
}

// advanceSnapshot carries a background snapshot (Config.Snapshots) on: once encoded it goes
// into Raft's storage and to the saver, and applying resumes; once saved the next one may
// start. With replaced set a snapshot from the leader is about to replace the state: it
// waits for the work in progress and drops an encoding not yet saved. A failed encoding or
// save stops the Replica, as a failed log write does.
func (r *Replica) advanceSnapshot(replaced bool) error {
	if r.snap == snapIdle {
		return nil
	}
	if r.snap == snapStreaming {
		return r.advanceStream(replaced)
	}
	saver := r.cfg.Snapshots
	if replaced {
		err := saver.Wait()
		if r.snap == snapEncoding {
			_, _, err = saver.Encoded()
			r.rn.PauseApply(false)
		}
		r.snap = snapIdle
		if err != nil {
			return fmt.Errorf("node %d: snapshot at %d: %w", r.cfg.ID, r.snapIndex, err)
		}
		return nil
	}
	if r.snap == snapEncoding {
		data, done, err := saver.Encoded()
		if !done {
			return nil
		}
		r.rn.PauseApply(false)
		if err != nil {
			return fmt.Errorf("node %d: snapshot state machine at %d: %w", r.cfg.ID, r.snapIndex, err)
		}
		snap, err := r.installOwnSnapshot(r.snapIndex, r.snapConf, data)
		if err != nil {
			return err
		}
		saver.Save(snap)
		r.snap = snapSaving
		return nil
	}
	done, err := saver.Saved()
	if err != nil {
		return fmt.Errorf("node %d: save snapshot at %d: %w", r.cfg.ID, r.snapIndex, err)
	}
	if done {
		r.snap = snapIdle
		r.releaseSnapshotData(r.snapIndex)
	}
	return nil
}
