package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"relay/internal/inbound"
	"relay/internal/ops"
	"relay/internal/store"
)

// The replay driver: what to replay, in which chunks, progress and the
// summary, and the exit code. The admin API itself is adminClient's.

// cmdReplay replays events matching a filter, or listed in a file, through
// the admin API: a dry run first (what matches), then chunks of ids, each
// with its own Idempotency-Key, so that a retried chunk never replays twice.
func cmdReplay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	baseURL := fs.String("url", "", "relay's base URL (default http:// + RELAY_HTTP_ADDR)")
	stateFlag := fs.String("state", "", "states to replay, comma-separated (default failed, unless --ids-file)")
	vendor := fs.String("vendor", "", "only this vendor's events")
	messageID := fs.String("message-id", "", "only this message_id")
	since := fs.String("since", "", "events created since: RFC 3339 or a duration back from now (24h, 7d)")
	until := fs.String("until", "", "events created before: RFC 3339 or a duration back from now")
	idsFile := fs.String("ids-file", "", "file of event ids or vendor:message_id, one per line, instead of a filter")
	dryRun := fs.Bool("dry-run", false, "show what would be replayed; change nothing")
	force := fs.Bool("force", false, "also replay confirmed events (the vendor answers 1009)")
	chunk := fs.Int("chunk", 500, "ids per replay request (1-1000)")
	asJSON := fs.Bool("json", false, "print the summary as JSON on stdout (progress goes to stderr)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if *chunk < 1 || *chunk > ops.MaxReplayIDs {
		return usageError{fmt.Errorf("--chunk must be from 1 to %d", ops.MaxReplayIDs)}
	}
	client, err := newAdminClient(*baseURL, getenv)
	if err != nil {
		return err
	}
	r := &replayer{client: client, out: stdout, result: stdout, tty: isTerminal(stdout), force: *force, chunk: *chunk,
		skipped: map[string]int{}, runID: newRunID()}
	if *asJSON {
		r.out, r.tty, r.asJSON = stderr, false, true
	}

	if *idsFile != "" {
		if *stateFlag != "" || *vendor != "" || *messageID != "" || *since != "" || *until != "" {
			return usageError{errors.New("--ids-file replaces the filter flags; give one or the other")}
		}
		ids, err := readIDsFile(*idsFile)
		if err != nil {
			return err
		}
		return r.runIDs(ctx, ids, *dryRun)
	}
	if *stateFlag == "" {
		*stateFlag = string(store.StateFailed)
	}
	// Relative times are resolved once, here: the dry run and every page
	// of the listing then see the same window.
	now := time.Now()
	filter := ops.ReplayFilter{State: ops.States(strings.Split(*stateFlag, ",")), Vendor: *vendor, MessageID: *messageID}
	for _, tf := range []struct {
		name string
		in   string
		out  *string
	}{{"since", *since, &filter.Since}, {"until", *until, &filter.Until}} {
		if tf.in == "" {
			continue
		}
		t, err := ops.ParseTime(tf.in, now)
		if err != nil {
			return usageError{fmt.Errorf("--%s: %v", tf.name, err)}
		}
		*tf.out = t.UTC().Format(time.RFC3339Nano)
	}
	return r.runFilter(ctx, filter, *dryRun)
}

// replayer carries one `relay replay` run.
type replayer struct {
	client *adminClient
	// out takes the progress and notes, result the summary: both stdout,
	// but for --json, where progress goes to stderr.
	out, result io.Writer
	tty         bool
	asJSON      bool
	force       bool
	chunk       int
	runID       string

	// Totals for the summary; matched is the dry run's count.
	matched, replayed, failed, done int
	skipped                         map[string]int
	chunks                          int
	bar                             *progressbar.ProgressBar
	total                           int
}

func (r *replayer) runFilter(ctx context.Context, f ops.ReplayFilter, dryRun bool) error {
	preview, err := r.client.replay(ctx, ops.ReplayRequest{Filter: &f, DryRun: true, Force: r.force}, "")
	if err != nil {
		return err
	}
	fmt.Fprintf(r.out, "%d events match; %d would be replayed, %d skipped\n", preview.Matched, preview.WouldReplay, preview.SkippedTotal)
	r.matched = preview.Matched
	if dryRun || preview.WouldReplay == 0 {
		for _, s := range preview.Skipped {
			r.skipped[s.Reason]++
		}
		return r.summary(dryRun, preview.WouldReplay)
	}
	// Walk the listing page by page and replay each page's ids: the
	// keyset cursor moves on whatever the replay does to the states.
	r.start(preview.Matched)
	cursor := ""
	for {
		page, err := r.client.list(ctx, f, r.chunk, cursor)
		if err != nil {
			r.finishBar()
			fmt.Fprintf(r.out, "listing the matching events failed: %v\n", err)
			r.failed += max(0, preview.Matched-r.done)
			return r.summary(false, 0)
		}
		ids := make([]string, len(page.Items))
		for i, it := range page.Items {
			ids[i] = it.ID
		}
		if len(ids) > 0 {
			if err := r.replayChunk(ctx, ids); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	r.finishBar()
	return r.summary(false, 0)
}

func (r *replayer) runIDs(ctx context.Context, ids []string, dryRun bool) error {
	would := 0
	for start := 0; start < len(ids); start += ops.MaxReplayIDs {
		part := ids[start:min(start+ops.MaxReplayIDs, len(ids))]
		preview, err := r.client.replay(ctx, ops.ReplayRequest{IDs: part, DryRun: true, Force: r.force}, "")
		if err != nil {
			return err
		}
		r.matched += preview.Matched
		would += preview.WouldReplay
		if dryRun || preview.WouldReplay == 0 {
			for _, s := range preview.Skipped {
				r.skipped[s.Reason]++
			}
		}
	}
	fmt.Fprintf(r.out, "%d ids given, %d events known; %d would be replayed\n", len(ids), r.matched, would)
	if dryRun || would == 0 {
		return r.summary(dryRun, would)
	}
	r.skipped = map[string]int{}
	r.start(len(ids))
	for start := 0; start < len(ids); start += r.chunk {
		if err := r.replayChunk(ctx, ids[start:min(start+r.chunk, len(ids))]); err != nil {
			return err
		}
	}
	r.finishBar()
	return r.summary(false, 0)
}

// replayChunk replays ids under a key derived from the run and the chunk
// number: a retry of the chunk (here, after a timeout or a 503) is
// answered from the record instead of replaying again. A refused chunk is
// counted failed and the run goes on; a refused token stops it.
func (r *replayer) replayChunk(ctx context.Context, ids []string) error {
	r.chunks++
	key := fmt.Sprintf("%s:%d", r.runID, r.chunks)
	res, err := r.client.replay(ctx, ops.ReplayRequest{IDs: ids, Force: r.force}, key)
	r.done += len(ids)
	if err != nil {
		if refused(err) {
			r.finishBar()
			return err
		}
		if ctx.Err() != nil {
			r.finishBar()
			return ctx.Err()
		}
		r.failed += len(ids)
		r.progress(len(ids), fmt.Sprintf("chunk %d failed: %v", r.chunks, err))
		return nil
	}
	r.replayed += res.Replayed
	for _, s := range res.Skipped {
		r.skipped[s.Reason]++
	}
	if extra := res.SkippedTotal - len(res.Skipped); extra > 0 {
		r.skipped["(not listed)"] += extra
	}
	r.progress(len(ids), "")
	return nil
}

func (r *replayer) start(total int) {
	r.total = total
	if !r.tty {
		return
	}
	r.bar = progressbar.NewOptions(max(total, 1),
		progressbar.OptionSetWriter(r.out),
		progressbar.OptionSetDescription("replaying"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(40),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetPredictTime(true),
	)
}

func (r *replayer) progress(n int, note string) {
	if r.bar != nil {
		if r.done > r.total {
			// More matched than the dry run saw (new failures meanwhile).
			r.total = r.done
			r.bar.ChangeMax(r.total)
		}
		_ = r.bar.Add(n)
		if note != "" {
			r.bar.Describe("replaying (" + note + ")")
		}
		return
	}
	line := fmt.Sprintf("replay: %d/%d events processed, %d replayed, %d skipped, %d failed",
		r.done, max(r.total, r.done), r.replayed, sumCounts(r.skipped), r.failed)
	if note != "" {
		line += " (" + note + ")"
	}
	fmt.Fprintln(r.out, line)
}

func (r *replayer) finishBar() {
	if r.bar != nil {
		_ = r.bar.Finish()
		fmt.Fprintln(r.out)
		r.bar = nil
	}
}

// summary prints the totals; a run where anything failed returns an error,
// so the command exits 1.
func (r *replayer) summary(dryRun bool, would int) error {
	if r.asJSON {
		if err := printJSON(r.result, replaySummary{DryRun: dryRun, Matched: r.matched, WouldReplay: would, Replayed: r.replayed,
			SkippedTotal: sumCounts(r.skipped), SkippedByReason: r.skipped, Failed: r.failed}); err != nil {
			return err
		}
		return r.exit()
	}
	w := tabwriter.NewWriter(r.result, 0, 4, 2, ' ', 0)
	if dryRun {
		fmt.Fprintln(w, "DRY RUN: nothing was changed")
	}
	fmt.Fprintf(w, "matched\t%d\n", r.matched)
	if dryRun {
		fmt.Fprintf(w, "would replay\t%d\n", would)
	} else {
		fmt.Fprintf(w, "replayed\t%d\n", r.replayed)
	}
	fmt.Fprintf(w, "skipped\t%d\n", sumCounts(r.skipped))
	reasons := make([]string, 0, len(r.skipped))
	for reason := range r.skipped {
		reasons = append(reasons, reason)
	}
	sort.Strings(reasons)
	for _, reason := range reasons {
		fmt.Fprintf(w, "  %s\t%d\n", reason, r.skipped[reason])
	}
	fmt.Fprintf(w, "failed\t%d\n", r.failed)
	if err := w.Flush(); err != nil {
		return err
	}
	return r.exit()
}

// exit is the run's outcome: a run where anything failed returns an
// error, so the command exits 1.
func (r *replayer) exit() error {
	if r.failed > 0 {
		return fmt.Errorf("%d events could not be replayed; run the same command again to retry them", r.failed)
	}
	return nil
}

// replaySummary is `relay replay --json`: the totals of the whole run
// under the names of the admin API's replay answer (ops.ReplayResult),
// plus what only the CLI knows.
type replaySummary struct {
	DryRun      bool `json:"dry_run"`
	Matched     int  `json:"matched"`
	WouldReplay int  `json:"would_replay"`
	Replayed    int  `json:"replayed"`
	// SkippedTotal counts the events not replayed; SkippedByReason splits
	// it by the API's skip reasons.
	SkippedTotal    int            `json:"skipped_total"`
	SkippedByReason map[string]int `json:"skipped_by_reason"`
	// Failed counts the events of chunks the server did not take.
	Failed int `json:"failed"`
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// readIDsFile reads event ids, one per line: a UUID or vendor:message_id.
// Blank lines and lines starting with # are skipped.
func readIDsFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if id, err := uuid.Parse(s); err == nil {
			ids = append(ids, id.String())
			continue
		}
		vendor, msg, ok := splitVendorMessage(s)
		if !ok {
			return nil, usageError{fmt.Errorf("%s:%d: %q is neither an event id nor vendor:message_id", path, line, s)}
		}
		ids = append(ids, inbound.EventID(vendor, msg).String())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(ids) == 0 {
		return nil, usageError{fmt.Errorf("%s holds no ids", path)}
	}
	return ids, nil
}

func newRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "cli-" + hex.EncodeToString(b[:])
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
