// node.go: the node stand-in, the only simulated piece. No kubelet can run here, so this loop
// plays the parts of the scheduler and the kubelet that the tests need: it registers one Ready
// Node, binds every unscheduled Pod to it, reports the Pod phases a kubelet reports (Running and
// Ready; Succeeded for Pods owned by a Job), and finishes graceful deletions (grace period 0,
// as a kubelet does once the containers stopped). A test asks for a failure with the annotation
// `ferry.test/fail`: `ImagePullBackOff`, `CrashLoopBackOff` or `Error` (the container exits 1);
// a Job's container whose command ends in `exit N` (N != 0) fails the same way;
// an image whose registry host ends in `.invalid` (RFC 2606: never resolves) is ImagePullBackOff.
package main

import (
	"context"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

const (
	nodeName       = "ferry-node"
	failAnnotation = "ferry.test/fail"
)

// nodeSim holds the stand-in's client and the Pod IPs it handed out.
type nodeSim struct {
	client kubernetes.Interface
	lister cache.Indexer
	queue  workqueue.TypedRateLimitingInterface[string]
	mu     sync.Mutex
	ips    map[types.UID]string
	nextIP int
}

// startNode registers the Node and starts the Pod loop.
func startNode(ctx context.Context, client kubernetes.Interface) error {
	if err := registerNode(ctx, client); err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	inf := factory.Core().V1().Pods().Informer()
	n := &nodeSim{
		client: client,
		lister: inf.GetIndexer(),
		queue:  workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		ips:    map[types.UID]string{},
		nextIP: 2,
	}
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			n.queue.Add(key)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	for i := 0; i < 4; i++ {
		go n.worker(ctx)
	}
	return nil
}

func registerNode(ctx context.Context, client kubernetes.Interface) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("4"),
		corev1.ResourceMemory:           resource.MustParse("8Gi"),
		corev1.ResourcePods:             resource.MustParse("250"),
		corev1.ResourceEphemeralStorage: resource.MustParse("50Gi"),
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName, Labels: map[string]string{
		"kubernetes.io/hostname":                nodeName,
		"kubernetes.io/os":                      "linux",
		"kubernetes.io/arch":                    "amd64",
		"node-role.kubernetes.io/control-plane": "true",
	}}}
	created, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("registering node: %w", err)
	}
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	created.Status = corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory"),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure"),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID"),
			cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady"),
		},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "127.0.0.1"},
			{Type: corev1.NodeHostName, Address: nodeName},
		},
		NodeInfo: corev1.NodeSystemInfo{KubeletVersion: kubeVersion, OperatingSystem: "linux",
			Architecture: "amd64", ContainerRuntimeVersion: "ferry-node-stand-in://1"},
	}
	ready, err := client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("node status: %w", err)
	}
	// Admission (TaintNodesByCondition) registers the node with the not-ready taint; the
	// node-lifecycle controller lifts it once the node reports Ready. That controller does not
	// run here, so the stand-in lifts it.
	ready.Spec.Taints = nil
	if _, err := client.CoreV1().Nodes().Update(ctx, ready, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("node taints: %w", err)
	}
	return nil
}

// exitCode: a container whose command line ends with `exit N` exits with N (the stand-in runs
// nothing; this is how a test makes a Job's pod fail, as it would on a real node).
func exitCode(c corev1.Container) int32 {
	line := strings.TrimSpace(strings.Join(append(append([]string{}, c.Command...), c.Args...), " "))
	i := strings.LastIndex(line, "exit ")
	if i < 0 {
		return 0
	}
	var n int32
	if _, err := fmt.Sscanf(strings.TrimSpace(line[i+5:]), "%d", &n); err != nil {
		return 0
	}
	return n
}

func (n *nodeSim) worker(ctx context.Context) {
	for {
		key, quit := n.queue.Get()
		if quit {
			return
		}
		if err := n.sync(ctx, key); err != nil && ctx.Err() == nil {
			n.queue.AddRateLimited(key)
		} else {
			n.queue.Forget(key)
		}
		n.queue.Done(key)
	}
}

func (n *nodeSim) sync(ctx context.Context, key string) error {
	obj, exists, err := n.lister.GetByKey(key)
	if err != nil || !exists {
		return err
	}
	pod := obj.(*corev1.Pod)
	pods := n.client.CoreV1().Pods(pod.Namespace)
	switch {
	case pod.DeletionTimestamp != nil:
		zero := int64(0)
		err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero,
			Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	case pod.Spec.NodeName == "":
		err := pods.Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: nodeName},
		}, metav1.CreateOptions{})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	case pod.Spec.NodeName != nodeName:
		return nil
	case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
		return nil
	}
	want := n.desiredStatus(pod)
	if sameStatus(&pod.Status, want) {
		return nil
	}
	updated := pod.DeepCopy()
	updated.Status = *want
	_, err = pods.UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // a newer version is on its way through the informer
	}
	return err
}

func (n *nodeSim) podIP(uid types.UID) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ip, ok := n.ips[uid]; ok {
		return ip
	}
	ip := fmt.Sprintf("10.42.%d.%d", (n.nextIP/250)%250, n.nextIP%250+2)
	n.nextIP++
	n.ips[uid] = ip
	return ip
}

// sameStatus compares what the stand-in decides: phase, readiness and container states.
func sameStatus(have, want *corev1.PodStatus) bool {
	if have.Phase != want.Phase || len(have.ContainerStatuses) != len(want.ContainerStatuses) {
		return false
	}
	if podReady(have) != podReady(want) {
		return false
	}
	for i := range have.ContainerStatuses {
		if stateName(have.ContainerStatuses[i].State) != stateName(want.ContainerStatuses[i].State) {
			return false
		}
	}
	return true
}

func podReady(s *corev1.PodStatus) bool {
	for _, c := range s.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func stateName(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Terminated != nil:
		return "terminated:" + s.Terminated.Reason
	case s.Waiting != nil:
		return "waiting:" + s.Waiting.Reason
	}
	return ""
}

// desiredStatus is what a kubelet would report for this Pod, given the test's annotation.
func (n *nodeSim) desiredStatus(pod *corev1.Pod) *corev1.PodStatus {
	now := metav1.Now()
	start := now
	if pod.Status.StartTime != nil {
		start = *pod.Status.StartTime
	}
	ip := n.podIP(pod.UID)
	fail := pod.Annotations[failAnnotation]
	ownedByJob := false
	for _, o := range pod.OwnerReferences {
		if o.Kind == "Job" {
			ownedByJob = true
		}
	}
	st := &corev1.PodStatus{
		HostIP: "127.0.0.1", HostIPs: []corev1.HostIP{{IP: "127.0.0.1"}},
		PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		StartTime: &start, QOSClass: pod.Status.QOSClass,
	}
	ready, phase := true, corev1.PodRunning
	state := func(c corev1.Container) (corev1.ContainerState, corev1.ContainerState, int32) {
		running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: start}}
		switch {
		case fail == "ImagePullBackOff" || unpullable(c.Image):
			ready, phase = false, corev1.PodPending
			return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff",
				Message: fmt.Sprintf("Back-off pulling image %q", c.Image)}}, corev1.ContainerState{}, 0
		case fail == "CrashLoopBackOff":
			ready = false
			return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
					Message: fmt.Sprintf("back-off 10s restarting failed container=%s pod=%s", c.Name, pod.Name)}},
				corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error",
					StartedAt: start, FinishedAt: now}}, 1
		case fail == "Error" || (ownedByJob && exitCode(c) != 0):
			ready, phase = false, corev1.PodFailed
			return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error",
				StartedAt: start, FinishedAt: now}}, corev1.ContainerState{}, 0
		case ownedByJob:
			ready, phase = false, corev1.PodSucceeded
			return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed",
				StartedAt: start, FinishedAt: now}}, corev1.ContainerState{}, 0
		}
		return running, corev1.ContainerState{}, 0
	}
	for _, c := range pod.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: true,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0,
				Reason: "Completed", StartedAt: start, FinishedAt: start}},
		})
	}
	for _, c := range pod.Spec.Containers {
		s, last, restarts := state(c)
		started := s.Running != nil
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: c.Image, State: s, LastTerminationState: last,
			RestartCount: restarts, Started: &started, Ready: s.Running != nil && ready,
			ContainerID: "ferry://" + string(pod.UID)[:8] + "-" + c.Name,
		})
	}
	st.Phase = phase
	cond := func(t corev1.PodConditionType, ok bool, reason string) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s, reason = corev1.ConditionTrue, ""
		}
		return corev1.PodCondition{Type: t, Status: s, Reason: reason, LastTransitionTime: now}
	}
	notReady := "ContainersNotReady"
	if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
		notReady = "PodCompleted"
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, phase != corev1.PodSucceeded && phase != corev1.PodFailed, ""),
		cond(corev1.PodInitialized, true, ""),
		cond(corev1.PodReady, ready, notReady),
		cond(corev1.ContainersReady, ready, notReady),
		cond(corev1.PodScheduled, true, ""),
	}
	return st
}

// unpullable: the image's registry host is in the `.invalid` top-level domain.
func unpullable(image string) bool {
	host, _, found := strings.Cut(image, "/")
	if !found {
		return false
	}
	host, _, _ = strings.Cut(host, ":")
	return strings.HasSuffix(host, ".invalid")
}
