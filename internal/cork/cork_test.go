package cork

import (
	"net"
	"testing"
)

// TestCork: corked writes reach the peer only at Flush, in order, and in
// one piece; uncorked writes go at once.
func TestCork(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := New(a)
	got := make(chan string, 4)
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := b.Read(buf)
			if err != nil {
				close(got)
				return
			}
			got <- string(buf[:n])
		}
	}()
	c.Cork()
	for _, s := range []string{"one ", "two ", "three"} {
		if n, err := c.Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("corked Write = %d, %v", n, err)
		}
	}
	select {
	case s := <-got:
		t.Fatalf("%q reached the peer before Flush", s)
	default:
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "one two three" {
		t.Errorf("after Flush the peer read %q, want one write of all three", s)
	}
	if _, err := c.Write([]byte("now")); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s != "now" {
		t.Errorf("uncorked write: peer read %q", s)
	}
	a.Close()
	if _, ok := <-got; ok {
		t.Error("more data after close")
	}
}
