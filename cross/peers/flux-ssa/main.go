// Command flux-ssa drives Flux's apply engine (github.com/fluxcd/pkg/ssa) the way
// kustomize-controller does, for the peer benchmark (cross/peers/run): read a directory of
// YAML, label the objects with the Kustomization's owner labels, ResourceManager.ApplyAllStaged
// (a server-side dry-run apply of every object to detect drift, then a server-side apply of
// the changed ones, CRDs and Namespaces first), then WaitForSet on every object (kstatus health,
// polled every 5 s as kustomize-controller does). Client settings are kustomize-controller's
// defaults: QPS 50, burst 300, --concurrent-ssa 4.
//
// Modes: first and nochange run one pass (the names say what the caller expects: objects
// created, or nothing changed); serve runs one pass per line read on stdin and sleeps in
// between (a controller idle between intervals), exiting at EOF. Each pass prints one JSON
// line: durations, the change counts, and the process's RSS (VmHWM peak, VmRSS now).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

type result struct {
	Mode       string         `json:"mode"`
	Pass       int            `json:"pass"`
	Objects    int            `json:"objects"`
	ApplyMs    float64        `json:"apply_ms"`
	WaitMs     float64        `json:"wait_ms"`
	DurationMs float64        `json:"duration_ms"`
	Actions    map[string]int `json:"actions"`
	VmHWMKiB   int64          `json:"vm_hwm_kib"`
	VmRSSKiB   int64          `json:"vm_rss_kib"`
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file")
	dir := flag.String("dir", "", "directory of YAML files")
	mode := flag.String("mode", "first", "first | nochange | serve")
	timeout := flag.Duration("timeout", 5*time.Minute, "bound of one pass (apply and health)")
	flag.Parse()
	if err := run(*kubeconfig, *dir, *mode, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "flux-ssa:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, dir, mode string, timeout time.Duration) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 50, 300
	kube, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	poller := polling.NewStatusPoller(kube, kube.RESTMapper(), polling.Options{})
	manager := ssa.NewResourceManager(kube, poller, ssa.Owner{
		Field: "kustomize-controller", Group: "kustomize.toolkit.fluxcd.io",
	})
	manager.SetConcurrency(4)
	switch mode {
	case "first", "nochange":
		return pass(manager, dir, mode, 1, timeout)
	case "serve":
		in := bufio.NewScanner(os.Stdin)
		for n := 1; in.Scan(); n++ {
			if err := pass(manager, dir, mode, n, timeout); err != nil {
				return err
			}
		}
		return in.Err()
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func readDir(dir string) ([]*unstructured.Unstructured, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var objects []*unstructured.Unstructured
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		objs, err := utils.ReadObjects(fh)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		objects = append(objects, objs...)
	}
	return objects, nil
}

func pass(manager *ssa.ResourceManager, dir, mode string, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	objects, err := readDir(dir)
	if err != nil {
		return err
	}
	manager.SetOwnerLabels(objects, "bench", "flux-system")
	opts := ssa.DefaultApplyOptions()
	opts.ExclusionSelector = map[string]string{
		"kustomize.toolkit.fluxcd.io/reconcile": "disabled",
		"kustomize.toolkit.fluxcd.io/ssa":       "Ignore",
	}
	opts.IfNotPresentSelector = map[string]string{"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}
	opts.ForceSelector = map[string]string{"kustomize.toolkit.fluxcd.io/force": "enabled"}
	changeSet, err := manager.ApplyAllStaged(ctx, objects, opts)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	applied := time.Now()
	if err := manager.WaitForSetWithContext(ctx, changeSet.ToObjMetadataSet(), ssa.WaitOptions{
		Interval: 5 * time.Second,
		Timeout:  timeout,
	}); err != nil {
		return fmt.Errorf("health: %w", err)
	}
	end := time.Now()
	actions := map[string]int{}
	for _, e := range changeSet.Entries {
		actions[string(e.Action)]++
	}
	hwm, rss := memory()
	out, _ := json.Marshal(result{
		Mode: mode, Pass: n, Objects: len(objects),
		ApplyMs:    float64(applied.Sub(start).Microseconds()) / 1000,
		WaitMs:     float64(end.Sub(applied).Microseconds()) / 1000,
		DurationMs: float64(end.Sub(start).Microseconds()) / 1000,
		Actions:    actions, VmHWMKiB: hwm, VmRSSKiB: rss,
	})
	fmt.Println(string(out))
	return nil
}

// memory reads VmHWM (peak resident set) and VmRSS from /proc/self/status, in KiB.
func memory() (hwm, rss int64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1, -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		var v int64
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &v); err == nil {
			hwm = v
		}
		if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &v); err == nil {
			rss = v
		}
	}
	return hwm, rss
}
