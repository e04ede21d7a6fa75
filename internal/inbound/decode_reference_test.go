package inbound

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// The reference reading of request bodies: encoding/json decoding into
// maps, as ingest did before jsonwalk.go. The walk must agree with it on
// every input: the same registrations, the same problems.

func referenceObject(body []byte) (map[string]json.RawMessage, *Problem) {
	var obj map[string]json.RawMessage
	if p := referenceDecode(body, &obj); p != nil {
		return nil, p
	}
	if obj == nil {
		return nil, errValidation([]FieldError{{Field: "(body)", Detail: "must be a JSON object, not null"}})
	}
	return obj, nil
}

func referenceDecode(body []byte, obj *map[string]json.RawMessage) *Problem {
	if _, p := decodeObject(body); p != nil && p.Status == 400 {
		return p // UTF-8 and syntax: the same checks, in the same order
	}
	if err := json.Unmarshal(body, obj); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return errValidation([]FieldError{{Field: "(body)", Detail: "must be a JSON object, not " + typeErr.Value}})
		}
		return errMalformed(jsonErrorDetail(err))
	}
	return nil
}

func referenceFields(obj map[string]json.RawMessage) eventFields {
	return eventFields{vendor: obj["vendor"], messageID: obj["message_id"], status: obj["status"],
		occurredAt: obj["occurred_at"], metadata: obj["metadata"]}
}

func referenceDecodeRegistration(body []byte) (Registration, *Problem) {
	obj, p := referenceObject(body)
	if p != nil {
		return Registration{}, p
	}
	return validateRegistration(referenceFields(obj), referenceVendors)
}

func referenceDecodeBatch(body []byte) ([]Registration, []*Problem, *Problem) {
	obj, p := referenceObject(body)
	if p != nil {
		return nil, nil, p
	}
	raw, ok := obj["events"]
	if !ok || isNull(raw) {
		return nil, nil, errValidation([]FieldError{{"events", "is required"}})
	}
	var events []json.RawMessage
	if err := json.Unmarshal(raw, &events); err != nil {
		return nil, nil, errValidation([]FieldError{{"events", "must be an array of event objects"}})
	}
	if len(events) == 0 || len(events) > MaxBatchEvents {
		return nil, nil, errValidation([]FieldError{{"events", fmt.Sprintf("holds %d events; want 1 to %d", len(events), MaxBatchEvents)}})
	}
	regs := make([]Registration, len(events))
	problems := make([]*Problem, len(events))
	for i, ev := range events {
		var item map[string]json.RawMessage
		if err := json.Unmarshal(ev, &item); err != nil || item == nil {
			problems[i] = errValidation([]FieldError{{fmt.Sprintf("events[%d]", i), "must be a JSON object"}})
			continue
		}
		regs[i], problems[i] = validateRegistration(referenceFields(item), referenceVendors)
	}
	return regs, problems, nil
}

// referenceDecodeMessage reads the members with encoding/json and hands
// validateMessage the object re-encoded, one member per name.
func referenceDecodeMessage(body []byte) (string, *Problem) {
	obj, p := referenceObject(body)
	if p != nil {
		return "", p
	}
	canonical, err := json.Marshal(obj)
	if err != nil {
		return "", errMalformed(err.Error())
	}
	m, p := validateMessage(canonical, map[string]string{"liasmart": "app"})
	if p != nil {
		return "", p
	}
	return fmt.Sprintf("%+v", m), nil
}

var referenceVendors = map[string]bool{"liasmart": true}

var walkSeeds = []string{
	`{"vendor":"liasmart","message_id":"4134","status":true}`,
	`{"vendor":"liasmart","message_id":"4134","status":true,"occurred_at":"2026-11-29T18:00:00+01:00","metadata":{"a":[1,{"b":null}],"s":"x\"}"}}`,
	` { "vendor" : "liasmart" , "message_id" : "a\u0062c" , "status" : true , "x" : [ ] } `,
	`{"vend\u006fr":"liasmart","message_id":"k","status":true,"status":false}`,
	`{"vendor":"liasmart","message_id":"k","status":true,"metadata":{},"metadata":null}`,
	`{"events":[{"vendor":"liasmart","message_id":"1","status":true},null,[],"x",{},{"vendor":7}]}`,
	`{"events":[]}`, `{"events":{}}`, `{"events":null}`, `{"events":[1],"events":[2,3]}`,
	`{"messages":[{"vendor":"liasmart","message_id":"m","app_id":"a"}]}`,
	`{"vendor":"liasmart","message_id":"m","app_id":"a\\b"}`,
	`[]`, `null`, `"s"`, `12`, `-1.5e3`, `true`, `false`, `{`, `{"a":}`, `{} {}`, "\xff", ``, ` `,
}

// checkSameReading fails unless the walk and the reference read body alike.
func checkSameReading(t *testing.T, body []byte) {
	t.Helper()
	reg, p := DecodeRegistration(body, referenceVendors)
	wantReg, wantP := referenceDecodeRegistration(body)
	if !reflect.DeepEqual(reg, wantReg) || !reflect.DeepEqual(p, wantP) {
		t.Fatalf("registration %q:\n walk      %+v %+v\n reference %+v %+v", body, reg, p, wantReg, wantP)
	}
	if p == nil && reg.ID != uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:relay:"+reg.Vendor+":"+reg.MessageID)) {
		t.Fatalf("registration %q: id %s is not the contract's formula", body, reg.ID)
	}
	regs, problems, bp := DecodeBatch(body, referenceVendors)
	wantRegs, wantProblems, wantBP := referenceDecodeBatch(body)
	if !reflect.DeepEqual(regs, wantRegs) || !reflect.DeepEqual(problems, wantProblems) || !reflect.DeepEqual(bp, wantBP) {
		t.Fatalf("batch %q:\n walk      %+v %+v %+v\n reference %+v %+v %+v", body, regs, problems, bp, wantRegs, wantProblems, wantBP)
	}
	var msg string
	m, mp := DecodeMessage(body, map[string]string{"liasmart": "app"})
	if mp == nil {
		msg = fmt.Sprintf("%+v", m)
	}
	wantMsg, wantMP := referenceDecodeMessage(body)
	if msg != wantMsg || !reflect.DeepEqual(mp, wantMP) {
		t.Fatalf("message %q:\n walk      %s %+v\n reference %s %+v", body, msg, mp, wantMsg, wantMP)
	}
}

// TestWalkMatchesEncodingJSON runs the seeds and the checked-in corpora of
// both decode fuzz targets through the comparison.
func TestWalkMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	bodies := walkSeeds
	for _, dir := range []string{"FuzzDecodeRegistration", "FuzzDecodeBatch", "FuzzDecodeMatchesEncodingJSON"} {
		files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", dir, "*"))
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			body, err := corpusBytes(string(raw))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			bodies = append(bodies, string(body))
		}
	}
	if len(bodies) < len(walkSeeds)+10 {
		t.Fatalf("only %d bodies: the checked-in corpora are missing", len(bodies))
	}
	for _, b := range bodies {
		checkSameReading(t, []byte(b))
	}
}

// corpusBytes reads a corpus file of one []byte value.
func corpusBytes(file string) ([]byte, error) {
	lines := strings.Split(strings.TrimSpace(file), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "[]byte(") {
		return nil, fmt.Errorf("not a corpus file of one []byte: %q", file)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	return []byte(s), err
}

func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	for _, s := range walkSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSameReading(t, body)
	})
}

// TestEventIDIsTheContractsFormula: EventID computes what the contract
// publishes for clients to compute themselves.
func TestEventIDIsTheContractsFormula(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", MaxMessageID)
	for _, c := range [][2]string{{"liasmart", "4134"}, {"liasmart", long}, {strings.Repeat("v", 100), long}, {"", ""}} {
		want := uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:relay:"+c[0]+":"+c[1]))
		if got := EventID(c[0], c[1]); got != want {
			t.Errorf("EventID(%q, %q) = %s, want %s", c[0], c[1], got, want)
		}
	}
	// The contract's worked example (README).
	if got := EventID("liasmart", "4134").String(); got != "57cce200-3726-5354-9709-aa9f7de7d361" {
		t.Errorf("EventID(liasmart, 4134) = %s", got)
	}
}

// TestAppendAcceptedIsTheJSONOfAccepted: the hand-written answer is what
// encoding/json writes for it.
func TestAppendAcceptedIsTheJSONOfAccepted(t *testing.T) {
	t.Parallel()
	for _, dup := range []bool{false, true} {
		id := uuid.New()
		want, err := json.Marshal(accepted{ID: id.String(), Status: "accepted", Duplicate: dup})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendAccepted(nil, id, dup); string(got) != string(want) {
			t.Errorf("appendAccepted = %s, want %s", got, want)
		}
	}
}
