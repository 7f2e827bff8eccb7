// ferry-control-plane: a real Kubernetes control plane for ferry's tests, in one process.
//
// It runs kube-apiserver and kube-controller-manager from k8s.io/kubernetes (the version pinned
// in go.mod) over an embedded etcd, on 127.0.0.1, with its own freshly generated CA, serving
// certificate, client certificates and service-account signing key; authorization Node,RBAC.
// A node stand-in (node.go) replaces the kubelet and the scheduler.
//
// Usage: ferry-control-plane --dir DIR [--port N] [--exit-on-stdin-eof]
// [--helm-controller (k3s's helm-controller, helm.go)] [--apiserver-arg=--flag=value ...] [--controller-manager-arg=--flag=value ...]
//
// When the control plane is ready (apiserver /readyz ok, controller-manager serving, node
// registered) it writes DIR/kubeconfig (admin, system:masters, inline client certificate) and
// prints one line `ready kubeconfig=DIR/kubeconfig server=https://127.0.0.1:PORT` on stdout.
// Logs go to DIR/control-plane.log and DIR/etcd.log. With --exit-on-stdin-eof it exits as soon
// as its standard input closes, so a test process that dies takes its control plane with it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// kubeVersion is the k8s.io/kubernetes version in go.mod (reported by the node stand-in).
const kubeVersion = "v1.37.2"

// startupBound is the longest the whole start may take before the binary gives up.
const startupBound = 180 * time.Second

func main() {
	// Client-go's default user agent, and so the field manager of every controller write, comes
	// from the program name: "k3s", as on a k3s node where everything runs in the k3s binary.
	os.Args[0] = "k3s"
	dir := flag.String("dir", "", "state directory: certificates, etcd data, kubeconfig, logs (required)")
	port := flag.Int("port", 0, "apiserver port on 127.0.0.1 (0: a free one)")
	stdinEOF := flag.Bool("exit-on-stdin-eof", false, "exit when standard input closes")
	removeDir := flag.Bool("remove-dir-on-exit", false, "remove --dir when exiting on stdin EOF or a signal")
	var apiArgs, cmArgs argList
	flag.Var(&apiArgs, "apiserver-arg", "extra kube-apiserver flag (repeatable)")
	flag.Var(&cmArgs, "controller-manager-arg", "extra kube-controller-manager flag (repeatable)")
	helm := flag.Bool("helm-controller", false, "also run k3s's helm-controller (HelmChart CRDs, helm-install Jobs)")
	flag.Parse()
	if *dir == "" {
		fatal(fmt.Errorf("--dir is required"))
	}
	exit := func(code int) {
		if *removeDir {
			_ = os.RemoveAll(*dir)
		}
		os.Exit(code)
	}
	if *stdinEOF {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			exit(0)
		}()
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		exit(0)
	}()
	if err := run(*dir, *port, apiArgs, cmArgs, *helm); err != nil {
		fmt.Fprintln(os.Stderr, "ferry-control-plane:", err)
		exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "ferry-control-plane:", err)
	os.Exit(2)
}

func run(dir string, port int, apiArgs, cmArgs []string, helm bool) error {
	started := time.Now()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := quietLogs(filepath.Join(dir, "control-plane.log")); err != nil {
		return err
	}
	p, err := generatePKI(filepath.Join(dir, "pki"))
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	admin, err := p.client("admin", "system:admin", []string{"system:masters"})
	if err != nil {
		return err
	}
	cm, err := p.client("controller-manager", "system:kube-controller-manager", nil)
	if err != nil {
		return err
	}
	if port == 0 {
		if port, err = freePort(); err != nil {
			return err
		}
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", port)
	adminKC := filepath.Join(dir, "pki", "admin.kubeconfig")
	cmKC := filepath.Join(dir, "pki", "controller-manager.kubeconfig")
	if err := writeKubeconfig(adminKC, server, p, admin); err != nil {
		return err
	}
	if err := writeKubeconfig(cmKC, server, p, cm); err != nil {
		return err
	}
	etcdURL, err := startEtcd(dir)
	if err != nil {
		return err
	}
	ctx := context.Background()
	errc := make(chan error, 3)
	if err := startAPIServer(ctx, p, etcdURL, port, apiArgs, errc); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", adminKC)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 200, 400
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	deadline := started.Add(startupBound)
	if err := waitFor(deadline, errc, "apiserver /readyz", func() bool {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok"
	}); err != nil {
		return err
	}
	if err := startControllerManager(ctx, p, cmKC, cmArgs, errc); err != nil {
		return err
	}
	if err := startNode(ctx, client); err != nil {
		return err
	}
	// The default ServiceAccount proves the controller-manager runs and is authorized.
	if err := waitFor(deadline, errc, "ServiceAccount default/default", func() bool {
		_, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	}); err != nil {
		return err
	}
	if helm {
		if err := startHelmController(ctx, adminKC, deadline, errc); err != nil {
			return err
		}
	}
	kc := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(kc, server, p, admin); err != nil {
		return err
	}
	fmt.Printf("ready kubeconfig=%s server=%s seconds=%.1f\n", kc, server, time.Since(started).Seconds())
	return <-errc
}

// waitFor polls ok every 100 ms until it holds, a component fails, or the deadline passes.
func waitFor(deadline time.Time, errc <-chan error, what string, ok func() bool) error {
	for !ok() {
		select {
		case err := <-errc:
			return err
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s", what, startupBound)
		}
	}
	return nil
}

// quietLogs sends klog (all components) to a file; only fatal errors reach stderr.
func quietLogs(path string) error {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	for k, v := range map[string]string{"logtostderr": "false", "alsologtostderr": "false",
		"log_file": path, "stderrthreshold": "FATAL", "v": "1", "one_output": "true"} {
		if err := fs.Set(k, v); err != nil {
			return err
		}
	}
	return nil
}

func renameFile(from, to string) error { return os.Rename(from, to) }
