// Command countproxy is a counting TLS reverse proxy for the peer benchmark (cross/peers/run):
// it sits in front of the test kube-apiserver, serves with the apiserver's own serving
// certificate (so a kubeconfig whose server port is rewritten still verifies), forwards every
// request with the admin client certificate, and counts requests (by method) and the bytes
// that cross the client connections (TLS records, HTTP/1.1 or HTTP/2 framing included).
//
// GET http://STATS/stats returns the counters as JSON, /log the requests since the last reset
// (one "METHOD URI" line each, at most 100,000 kept), /timed the same requests with timing
// ("START_MS DURATION_MS STATUS METHOD URI", start relative to the last reset, in the order
// they finished: the profile of a pass by phase); GET /reset zeroes all three. Every tool
// under test talks through the proxy; the controllers inside the control plane do not, so
// the counters hold only the tool's own traffic. The stats also count the client connections
// accepted since the reset (each one a TLS handshake).
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

type counters struct {
	mu       sync.Mutex
	methods  map[string]int64
	requests atomic.Int64
	bytesIn  atomic.Int64 // client -> proxy
	bytesOut atomic.Int64 // proxy -> client
	conns    atomic.Int64 // client connections accepted (TLS handshakes)
	log      []string     // "METHOD URI" per request since the last reset (under mu)
	timed    []string     // "START_MS DURATION_MS STATUS METHOD URI" (under mu)
	since    time.Time    // the last reset (under mu)
}

// statusWriter remembers the status code a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// maxLog bounds the request log kept between resets.
const maxLog = 100000

func (c *counters) snapshot() map[string]any {
	c.mu.Lock()
	m := map[string]int64{}
	for k, v := range c.methods {
		m[k] = v
	}
	c.mu.Unlock()
	return map[string]any{
		"requests": c.requests.Load(), "methods": m,
		"bytes_in": c.bytesIn.Load(), "bytes_out": c.bytesOut.Load(),
		"connections": c.conns.Load(),
	}
}

func (c *counters) reset() {
	c.mu.Lock()
	c.methods = map[string]int64{}
	c.log = nil
	c.timed = nil
	c.since = time.Now()
	c.mu.Unlock()
	c.requests.Store(0)
	c.bytesIn.Store(0)
	c.bytesOut.Store(0)
	c.conns.Store(0)
}

type countingConn struct {
	net.Conn
	c *counters
}

func (k countingConn) Read(p []byte) (int, error) {
	n, err := k.Conn.Read(p)
	k.c.bytesIn.Add(int64(n))
	return n, err
}

func (k countingConn) Write(p []byte) (int, error) {
	n, err := k.Conn.Write(p)
	k.c.bytesOut.Add(int64(n))
	return n, err
}

type countingListener struct {
	net.Listener
	c *counters
}

func (l countingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.c.conns.Add(1)
	return countingConn{conn, l.c}, nil
}

func main() {
	upstream := flag.String("upstream", "", "apiserver URL (https://127.0.0.1:PORT)")
	pki := flag.String("pki", "", "the control plane's pki directory (ca.crt, serving.*, admin.*)")
	flag.Parse()
	if *upstream == "" || *pki == "" {
		log.Fatal("countproxy: --upstream and --pki are required")
	}
	up, err := url.Parse(*upstream)
	if err != nil {
		log.Fatal(err)
	}
	caPEM, err := os.ReadFile(*pki + "/ca.crt")
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	admin, err := tls.LoadX509KeyPair(*pki+"/admin.crt", *pki+"/admin.key")
	if err != nil {
		log.Fatal(err)
	}
	serving, err := tls.LoadX509KeyPair(*pki+"/serving.crt", *pki+"/serving.key")
	if err != nil {
		log.Fatal(err)
	}
	c := &counters{methods: map[string]int64{}, since: time.Now()}
	proxy := httputil.NewSingleHostReverseProxy(up)
	proxy.FlushInterval = -1 // watches stream
	proxy.Transport = &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{admin}},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 100,
		IdleConnTimeout:     90 * time.Second,
	}
	proxy.ErrorLog = log.New(os.Stderr, "countproxy: ", 0)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.requests.Add(1)
		c.mu.Lock()
		c.methods[r.Method]++
		if len(c.log) < maxLog {
			c.log = append(c.log, r.Method+" "+r.URL.RequestURI())
		}
		since := c.since
		c.mu.Unlock()
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		proxy.ServeHTTP(sw, r)
		line := fmt.Sprintf("%d %d %d %s %s", start.Sub(since).Milliseconds(),
			time.Since(start).Milliseconds(), sw.code, r.Method, r.URL.RequestURI())
		c.mu.Lock()
		if len(c.timed) < maxLog {
			c.timed = append(c.timed, line)
		}
		c.mu.Unlock()
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	statsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	stats := http.NewServeMux()
	stats.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(c.snapshot())
	})
	stats.HandleFunc("/log", func(w http.ResponseWriter, _ *http.Request) {
		c.mu.Lock()
		lines := append([]string(nil), c.log...)
		c.mu.Unlock()
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	})
	stats.HandleFunc("/timed", func(w http.ResponseWriter, _ *http.Request) {
		c.mu.Lock()
		lines := append([]string(nil), c.timed...)
		c.mu.Unlock()
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	})
	stats.HandleFunc("/reset", func(w http.ResponseWriter, _ *http.Request) {
		c.reset()
		fmt.Fprintln(w, "ok")
	})
	go func() { log.Fatal(http.Serve(statsLn, stats)) }()
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{serving}},
		ReadHeaderTimeout: 30 * time.Second,
	}
	fmt.Printf("ready proxy=https://%s stats=http://%s\n", ln.Addr(), statsLn.Addr())
	log.Fatal(srv.ServeTLS(countingListener{ln, c}, "", ""))
}
