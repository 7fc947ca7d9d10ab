import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as net from "net";
import { CatalogSpec } from "../../catalogs/trino";
import type { Cluster } from "./cluster";
import { PART_OF_MESH, serviceOfHost } from "./names";

/*
 * The namespace denies every connection in and out of its pods, DNS lookups excepted; each workload
 * then gets a NetworkPolicy of its own that allows exactly the flows the mesh needs. The deploying
 * machine's port-forwards enter a pod's network namespace through the kubelet, so no policy stands
 * between `pulumi up` and the servers it loads or reads back.
 */

type Peer = k8s.types.input.networking.v1.NetworkPolicyPeer;
type Port = k8s.types.input.networking.v1.NetworkPolicyPort;
export interface Flow {
    /** Who may connect (ingress) or where to (egress); all sources or destinations when unset. */
    peers?: pulumi.Input<Peer[]>;
    ports: pulumi.Input<Port[]>;
}

/** Where the mesh's clients come from, beyond its own Jobs: namespaces or CIDRs; anywhere when unset. */
export type ClientSources = { namespace: string } | { cidr: string };

export function tcp(...ports: number[]): Port[] {
    return ports.map(port => ({ protocol: "TCP", port }));
}

/** The stack's pods of one role (`app.kubernetes.io/component`), or all its pods. */
export function podsOf(cluster: Cluster, role?: string): Peer {
    return { podSelector: { matchLabels: { ...cluster.instanceLabels(), ...(role ? { "app.kubernetes.io/component": role } : {}) } } };
}

/** Addresses the stack cannot know in advance (a user's own database or store, a package index): any, on the given ports. */
export const ANYWHERE: Peer = { ipBlock: { cidr: "0.0.0.0/0" } };

/** Every pod of a namespace, selected by the name label the API server gives each namespace. */
function namespacePeer(namespace: string): Peer {
    return { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } } };
}

/**
 * Pods of one role of the stack that holds another namespace: a domain stack's view of the mesh's
 * Trino. The domain stack does not know the mesh's stack name (its instance label), and needs not:
 * a stack refuses a namespace it did not create, so the namespace is the mesh's alone. Namespace and
 * pods in one peer: a pod must match both.
 */
export function podsOfNamespace(namespace: string, role: string): Peer {
    return { ...namespacePeer(namespace), podSelector: { matchLabels: { ...PART_OF_MESH, "app.kubernetes.io/component": role } } };
}

export function clientPeers(sources: ClientSources[] | undefined): Peer[] | undefined {
    return sources?.map(source => ("namespace" in source ? namespacePeer(source.namespace) : { ipBlock: { cidr: source.cidr } }));
}

/** Denies all traffic of the namespace's pods but DNS lookups, wherever the cluster's DNS server runs. */
export function denyAllButDns(cluster: Cluster, opts: pulumi.CustomResourceOptions): k8s.networking.v1.NetworkPolicy {
    return new k8s.networking.v1.NetworkPolicy(
        "kubernetes-default-deny",
        {
            metadata: cluster.metadata("default-deny", "mesh", "network"),
            spec: {
                podSelector: {},
                policyTypes: ["Ingress", "Egress"],
                egress: [{ ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }] }],
            },
        },
        opts,
    );
}

/** One workload's allowed flows, selected by its own labels. */
export function workloadNetworkPolicy(
    cluster: Cluster,
    name: string,
    component: string,
    role: string,
    flows: { ingress?: pulumi.Input<Flow[]>; egress?: pulumi.Input<Flow[]> },
    opts: pulumi.CustomResourceOptions,
): k8s.networking.v1.NetworkPolicy {
    const rules = (direction: "from" | "to", list: pulumi.Input<Flow[]> | undefined) =>
        pulumi.output(list ?? []).apply(flowList => flowList.map(flow => ({ ...(flow.peers ? { [direction]: flow.peers } : {}), ports: flow.ports })));
    return new k8s.networking.v1.NetworkPolicy(
        name,
        {
            metadata: cluster.metadata(name, component, role),
            spec: {
                podSelector: { matchLabels: cluster.labels(component, role) },
                policyTypes: ["Ingress", "Egress"],
                ingress: rules("from", flows.ingress),
                egress: rules("to", flows.egress),
            },
        },
        cluster.options(opts),
    );
}

/**
 * Where Trino's catalogs connect: a server of the stack (a Service in the namespace) as one of the
 * stack's pods on its port; a Service of another namespace (a domain stack's server) as a pod of
 * that namespace on its port, since whether an address block matches pod addresses is left to the
 * network plugin; anything else, a user's own database or store, as any address on its port, since its
 * addresses are not known when the policy is written.
 */
export function catalogFlows(cluster: Cluster, catalogs: CatalogSpec[]): Flow[] {
    const endpoints = catalogs.flatMap(catalog => {
        if (catalog.kind !== "iceberg") {
            return [{ host: catalog.host, port: catalog.port }];
        }
        const store = catalog.warehouse.kind === "s3" ? [endpointOf(catalog.warehouse.endpoint)] : [];
        return [{ host: catalog.metastore.host, port: catalog.metastore.port }, ...store];
    });
    const destinations = new Map<string, { peer: Peer; ports: Set<number> }>();
    for (const { host, port } of endpoints) {
        const namespace = serviceOfHost(host)?.namespace;
        const key = namespace ?? "";
        if (!destinations.has(key)) {
            destinations.set(key, { peer: namespace === undefined ? ANYWHERE : namespace === cluster.namespace ? podsOf(cluster) : namespacePeer(namespace), ports: new Set() });
        }
        destinations.get(key)!.ports.add(port);
    }
    // The stack's own namespace first, then the others by name, then anywhere: the same order on every up.
    const order = (key: string) => (key === cluster.namespace ? "0" : key === "" ? "2" : `1${key}`);
    return [...destinations.entries()]
        .sort(([a], [b]) => order(a).localeCompare(order(b)))
        .map(([, { peer, ports }]) => ({ peers: [peer], ports: tcp(...[...ports].sort((a, b) => a - b)) }));
}

/** Where a URL's server listens: the address itself when the URL names one, any address otherwise, on its port. */
export function urlFlow(url: string): Flow {
    const { host, port } = endpointOf(url);
    const literal = host.replace(/^\[|\]$/g, "");
    const peer: Peer = net.isIPv4(literal) ? { ipBlock: { cidr: `${literal}/32` } } : net.isIPv6(literal) ? { ipBlock: { cidr: `${literal}/128` } } : ANYWHERE;
    return { peers: [peer], ports: tcp(port) };
}

function endpointOf(url: string): { host: string; port: number } {
    const parsed = new URL(url);
    return { host: parsed.hostname, port: parsed.port ? Number(parsed.port) : parsed.protocol === "https:" ? 443 : 80 };
}
