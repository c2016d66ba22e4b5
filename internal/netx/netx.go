// Package netx picks free loopback ports, for the services labsbx publishes on
// 127.0.0.1.
package netx

import "net"

// FreePorts returns n distinct TCP ports on 127.0.0.1 that were free a moment ago:
// each listener is held until all n are picked, so the ports differ.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// FreePort is one free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	p, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}
