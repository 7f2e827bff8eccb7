// components.go: the real Kubernetes components run in this one process: etcd (embedded),
// kube-apiserver and kube-controller-manager, each configured through its own command-line
// options exactly as the standalone binaries parse them.
package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	apiapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	apiopts "k8s.io/kubernetes/cmd/kube-apiserver/app/options"
	cmapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	cmopts "k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
)

const (
	serviceCIDR  = "10.43.0.0/16"
	serviceAPIIP = "10.43.0.1"
	// controllers: the kube-controller-manager loops the tests rely on (see docs/kube-sim.md).
	controllers = "deployment-controller,replicaset-controller,statefulset-controller," +
		"daemonset-controller,job-controller,cronjob-controller,ttl-after-finished-controller," +
		"garbage-collector-controller,namespace-controller,serviceaccount-controller," +
		"serviceaccount-token-controller,endpointslice-controller,endpoints-controller," +
		"horizontal-pod-autoscaler-controller,root-ca-certificate-publisher-controller," +
		"clusterrole-aggregation-controller"
)

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startEtcd runs a single-member etcd on loopback with a small quota and no fsync (test data).
func startEtcd(dir string) (string, error) {
	clientPort, err := freePort()
	if err != nil {
		return "", err
	}
	peerPort, err := freePort()
	if err != nil {
		return "", err
	}
	cu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", clientPort))
	pu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", peerPort))
	cfg := embed.NewConfig()
	cfg.Name = "ferry"
	cfg.Dir = filepath.Join(dir, "etcd")
	cfg.ListenClientUrls = []url.URL{*cu}
	cfg.AdvertiseClientUrls = []url.URL{*cu}
	cfg.ListenPeerUrls = []url.URL{*pu}
	cfg.AdvertisePeerUrls = []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.QuotaBackendBytes = 256 << 20
	cfg.UnsafeNoFsync = true
	cfg.LogLevel = "warn"
	cfg.LogOutputs = []string{filepath.Join(dir, "etcd.log")}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return "", fmt.Errorf("etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		return "", fmt.Errorf("etcd: %w", err)
	case <-time.After(60 * time.Second):
		return "", fmt.Errorf("etcd: not ready within 60s")
	}
	return cu.String(), nil
}

// startAPIServer parses kube-apiserver flags and runs it; errors after start go to errc.
func startAPIServer(ctx context.Context, p *pki, etcdURL string, port int, extra []string, errc chan<- error) error {
	s := apiopts.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir=" + p.dir,
		"--tls-cert-file=" + p.servingCrt,
		"--tls-private-key-file=" + p.servingKey,
		"--client-ca-file=" + p.caCert,
		"--authorization-mode=Node,RBAC",
		"--anonymous-auth=false",
		"--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.saPub,
		"--service-account-signing-key-file=" + p.saKey,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--profiling=false",
		"--endpoint-reconciler-type=none", // lease refuses a loopback address
	}
	if err := fs.Parse(append(args, extra...)); err != nil {
		return fmt.Errorf("kube-apiserver flags: %w", err)
	}
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	completed, err := s.Complete(ctx)
	if err != nil {
		return fmt.Errorf("kube-apiserver options: %w", err)
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return fmt.Errorf("kube-apiserver options: %v", errs)
	}
	go func() { errc <- fmt.Errorf("kube-apiserver stopped: %v", apiapp.Run(ctx, completed)) }()
	return nil
}

// startControllerManager runs kube-controller-manager with the controllers listed above, each
// under its own service account (--use-service-account-credentials), as k3s runs it.
func startControllerManager(ctx context.Context, p *pki, kubeconfig string, extra []string, errc chan<- error) error {
	s, err := cmopts.NewKubeControllerManagerOptions()
	if err != nil {
		return err
	}
	known, disabled, aliases := cmapp.KnownControllers(), cmapp.ControllersDisabledByDefault(), cmapp.ControllerAliases()
	named := s.Flags(known, disabled, aliases)
	s.ParsedFlags = &named
	fs := pflag.NewFlagSet("kube-controller-manager", pflag.ContinueOnError)
	for _, f := range named.FlagSets {
		fs.AddFlagSet(f)
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--secure-port=0",
		"--leader-elect=false",
		"--controllers=" + controllers,
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + p.saKey,
		"--root-ca-file=" + p.caCert,
		"--cluster-cidr=10.42.0.0/16",
		"--service-cluster-ip-range=" + serviceCIDR,
		"--concurrent-gc-syncs=5",
		"--horizontal-pod-autoscaler-sync-period=5s",
		"--profiling=false",
	}
	if err := fs.Parse(append(args, extra...)); err != nil {
		return fmt.Errorf("kube-controller-manager flags: %w", err)
	}
	c, err := s.Config(ctx, known, disabled, aliases)
	if err != nil {
		return fmt.Errorf("kube-controller-manager config: %w", err)
	}
	go func() { errc <- fmt.Errorf("kube-controller-manager stopped: %v", cmapp.Run(ctx, c.Complete())) }()
	return nil
}

// writeKubeconfig writes a kubeconfig with a client certificate, atomically (temp + rename).
func writeKubeconfig(path, server string, p *pki, c clientCert) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["ferry"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: p.caCert}
	cfg.AuthInfos["ferry"] = &clientcmdapi.AuthInfo{ClientCertificate: c.cert, ClientKey: c.key}
	cfg.Contexts["ferry"] = &clientcmdapi.Context{Cluster: "ferry", AuthInfo: "ferry"}
	cfg.CurrentContext = "ferry"
	if err := clientcmdapi.FlattenConfig(cfg); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := clientcmd.WriteToFile(*cfg, tmp); err != nil {
		return err
	}
	return renameFile(tmp, path)
}

// splitArgs turns repeated --x-arg values into one list.
type argList []string

func (a *argList) String() string     { return strings.Join(*a, " ") }
func (a *argList) Set(v string) error { *a = append(*a, v); return nil }
