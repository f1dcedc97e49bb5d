package host

import "runtime"

// forker starts plugin processes from one OS thread that lives as long as
// the host. Pdeathsig fires when the thread that forked the child exits,
// not the process (golang/go#27505): a child forked from an arbitrary Go
// thread could be killed whenever the runtime retires that thread. A
// locked goroutine's thread is never retired while it runs.
type forker struct {
	jobs chan func()
}

func newForker() *forker {
	f := &forker{jobs: make(chan func())}
	go f.loop()
	return f
}

func (f *forker) loop() {
	runtime.LockOSThread()
	for job := range f.jobs {
		job()
	}
	// Returning while locked ends the thread, which is what the
	// processes' Pdeathsig is tied to: stop runs after every plugin
	// stopped, so nothing is left to kill.
}

// run calls fn on the forker's thread and waits for it.
func (f *forker) run(fn func()) {
	done := make(chan struct{})
	f.jobs <- func() {
		defer close(done)
		fn()
	}
	<-done
}

func (f *forker) stop() { close(f.jobs) }
