package proc

import (
	"os"
	"testing"
)

func TestReadSelf(t *testing.T) {
	m, err := ReadMem(os.Getpid())
	if err != nil || m.RSS <= 0 || m.HWM < m.RSS {
		t.Fatalf("ReadMem: %+v, %v", m, err)
	}
	if _, err := CPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if d := Describe(); d.Cores < 1 || d.Kernel == "" {
		t.Fatalf("Describe: %+v", d)
	}
}
