package main

// k3s's helm-controller (github.com/k3s-io/helm-controller v0.16.17, the version k3s 1.34
// embeds), run in-process when --helm-controller is given: it installs the HelmChart and
// HelmChartConfig CRDs and reconciles HelmCharts of every namespace into their real
// helm-install/helm-delete Jobs and status, as on a k3s server. No Helm runs: the Jobs' pods are
// finished by the node stand-in like every Job pod.

import (
	"context"
	"fmt"
	"time"

	helmcontrollers "github.com/k3s-io/helm-controller/pkg/controllers"
	"github.com/k3s-io/helm-controller/pkg/controllers/common"
	"github.com/k3s-io/helm-controller/pkg/crds"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
)

// startHelmController creates the CRDs, waits until they are Established and starts the
// controller (leader election in kube-system, as k3s does) in the background.
func startHelmController(ctx context.Context, kubeconfig string, deadline time.Time, errc chan error) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	ext, err := apiextclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	list, err := crds.List()
	if err != nil {
		return fmt.Errorf("helm-controller CRDs: %w", err)
	}
	for _, crd := range list {
		_, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating CRD %s: %w", crd.Name, err)
		}
	}
	for _, crd := range list {
		name := crd.Name
		if err := waitFor(deadline, errc, "CRD "+name+" Established", func() bool {
			got, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false
			}
			for _, c := range got.Status.Conditions {
				if c.Type == apiextv1.Established && c.Status == apiextv1.ConditionTrue {
					return true
				}
			}
			return false
		}); err != nil {
			return err
		}
	}
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}, &clientcmd.ConfigOverrides{})
	opts := common.Options{Threadiness: 1, NodeName: nodeName, JobClusterRole: "cluster-admin"}
	go func() {
		if err := helmcontrollers.Register(ctx, "", common.Name, loader, opts); err != nil {
			errc <- fmt.Errorf("helm-controller: %w", err)
		}
	}()
	return nil
}
