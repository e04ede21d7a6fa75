package proc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Process is a child process under measurement.
type Process struct {
	Name    string
	Cmd     *exec.Cmd
	LogPath string
	sampler *Sampler
	exited  chan struct{}
	waitErr error

	hwm, maxRSS int64
	cpu         time.Duration
	signalled   bool
}

// Spawn starts bin with args and env (added to the environment without
// any RELAY_* variable inherited from the caller), its output going to
// logPath, and follows its memory.
func Spawn(name, bin string, args, env []string, logPath string) (*Process, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RELAY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, Cmd: cmd, LogPath: logPath, exited: make(chan struct{})}
	p.sampler = Sample(cmd.Process.Pid, 100*time.Millisecond)
	go func() {
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	return p, nil
}

// PID is the process id.
func (p *Process) PID() int { return p.Cmd.Process.Pid }

// CPU is the CPU time used so far (the last reading once it exited).
func (p *Process) CPU() time.Duration {
	if d, err := CPU(p.PID()); err == nil {
		p.cpu = d
	}
	return p.cpu
}

// Peak is the process's VmHWM (and highest sampled VmRSS) so far.
func (p *Process) Peak() (hwm, maxRSS int64) {
	select {
	case <-p.exited:
		return p.hwm, p.maxRSS
	default:
	}
	p.hwm, p.maxRSS = p.sampler.Peak()
	return p.hwm, p.maxRSS
}

// Exited is closed when the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Stop sends SIGTERM and waits up to grace for the exit (then kills). It
// takes the last memory and CPU readings first.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.exited:
		p.sampler.Stop()
		return p.exitErr()
	default:
	}
	p.Peak()
	p.CPU()
	p.signalled = true
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.Cmd.Process.Kill()
		<-p.exited
		p.sampler.Stop()
		return fmt.Errorf("%s did not stop within %s; killed", p.Name, grace)
	}
	p.sampler.Stop()
	return p.exitErr()
}

// exitErr is the exit status, except after our SIGTERM: a process ended
// by it (nats-server exits 1 on it) is a normal stop.
func (p *Process) exitErr() error {
	var ee *exec.ExitError
	if errors.As(p.waitErr, &ee) && (ee.ExitCode() == -1 || p.signalled && p.Name == "nats-server") {
		return nil
	}
	return p.waitErr
}

// Tail returns the last n bytes of the process's log.
func (p *Process) Tail(n int) string {
	b, _ := os.ReadFile(p.LogPath)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// WaitHTTP polls url until it answers 200, the process exits or timeout.
func (p *Process) WaitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := p.pause(ctx, deadline); err != nil {
			return fmt.Errorf("%s not ready at %s: %w\n%s", p.Name, url, err, p.Tail(2000))
		}
	}
}

// WaitTCP polls addr until it accepts a connection.
func (p *Process) WaitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if err := p.pause(ctx, deadline); err != nil {
			return fmt.Errorf("%s not listening on %s: %w\n%s", p.Name, addr, err, p.Tail(2000))
		}
	}
}

func (p *Process) pause(ctx context.Context, deadline time.Time) error {
	if time.Now().After(deadline) {
		return errors.New("timeout")
	}
	select {
	case <-p.exited:
		return fmt.Errorf("exited: %v", p.waitErr)
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(20 * time.Millisecond):
		return nil
	}
}

// FreeAddr returns a 127.0.0.1 address with a port free at the moment.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
