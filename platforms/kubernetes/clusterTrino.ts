import * as pulumi from "@pulumi/pulumi";
import { KubeTunnel, withPortForward } from "../../lib/kubectl";
import { describeCertificateMismatch, isCertificateMismatch } from "../../lib/certificates";
import { queryTrino } from "../../lib/trinoQuery";

/*
 * What the Trino coordinator in a cluster reports about itself, read through a port-forward to its
 * Service: the release every node runs and how many nodes take part. It waits until the coordinator
 * answers a query and every expected worker has joined, so what follows it runs on the whole cluster.
 */

interface ClusterTrinoInputs {
    tunnel: KubeTunnel;
    caCert: string;
    probe: { user: string; password: string };
    /** Nodes expected: the coordinator and every worker. */
    nodes: number;
    /** Changes whenever the coordinator or a worker is rolled; a new value reads the cluster again. */
    rollout: string;
    component: string;
}

interface ClusterTrinoFacts {
    version: string;
    activeNodes: number;
}

class CertificateMismatch extends Error {}

async function readCluster(inputs: ClusterTrinoInputs): Promise<ClusterTrinoFacts> {
    const deadline = Date.now() + 600_000;
    let last = "no answer yet";
    while (Date.now() < deadline) {
        try {
            const facts = await withPortForward(inputs.tunnel, async localPort => {
                try {
                    const { rows } = await queryTrino(
                        { url: `https://127.0.0.1:${localPort}`, user: inputs.probe.user, password: inputs.probe.password, caCert: inputs.caCert },
                        "SELECT node_version, count(*) FROM system.runtime.nodes WHERE state = 'active' GROUP BY node_version",
                    );
                    return rows.map(([version, count]) => ({ version: String(version), count: Number(count) }));
                } catch (error) {
                    if (isCertificateMismatch(error)) {
                        // No wait cures a certificate the stack does not trust: say at once what was presented and what was expected.
                        throw new CertificateMismatch(`${inputs.component}: ${await describeCertificateMismatch(localPort, inputs.caCert, error as Error)}`);
                    }
                    throw error;
                }
            });
            const active = facts.reduce((sum, f) => sum + f.count, 0);
            if (facts.length > 1) {
                throw new Error(`${inputs.component}: the cluster's Trino nodes run different releases: ${facts.map(f => `${f.count} x ${f.version}`).join(", ")}`);
            }
            if (facts.length === 1 && active >= inputs.nodes) {
                return { version: facts[0].version, activeNodes: active };
            }
            last = `${active} of ${inputs.nodes} nodes active`;
        } catch (error) {
            if (error instanceof CertificateMismatch) {
                throw error;
            }
            const message = (error as Error).message;
            // Waiting cures a coordinator that is still starting, not a refusal.
            if (/different releases|Access Denied|Authentication failed|Unauthorized/.test(message)) {
                throw new Error(`${inputs.component}: ${message.replace(`${inputs.component}: `, "")}`);
            }
            last = message;
        }
        await new Promise(resolve => setTimeout(resolve, 3_000));
    }
    throw new Error(`${inputs.component}: Trino in namespace ${inputs.tunnel.namespace} is not ready: ${last}`);
}

const clusterTrinoProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: ClusterTrinoInputs) {
        const facts = await readCluster(inputs);
        return { id: `${inputs.tunnel.namespace}/${inputs.tunnel.service}`, outs: { ...inputs, ...facts } };
    },
    async diff(_id: string, olds: ClusterTrinoInputs, news: ClusterTrinoInputs) {
        return { changes: olds.rollout !== news.rollout || olds.nodes !== news.nodes };
    },
    async update(_id: string, _olds: ClusterTrinoInputs, news: ClusterTrinoInputs) {
        return { outs: { ...news, ...(await readCluster(news)) } };
    },
};

export interface ClusterTrinoArgs {
    /** The coordinator's HTTPS Service port. */
    tunnel: pulumi.Input<KubeTunnel>;
    /** The certificate the coordinator presents, PEM. */
    caCert: pulumi.Input<string>;
    /** A user that may read system.runtime.nodes (secret). */
    probe: pulumi.Input<{ user: pulumi.Input<string>; password: pulumi.Input<string> }>;
    /** The coordinator and every worker. */
    nodes: number;
    /** A digest of the pods' specs; a new value reads the cluster again after the roll. */
    rollout: pulumi.Input<string>;
    /** Names the owning component in errors. */
    component: string;
}

/** The running Trino cluster's release and node count, read from the coordinator. */
export class ClusterTrino extends pulumi.dynamic.Resource {
    public readonly version!: pulumi.Output<string>;
    public readonly activeNodes!: pulumi.Output<number>;

    constructor(name: string, args: ClusterTrinoArgs, opts?: pulumi.CustomResourceOptions) {
        super(clusterTrinoProvider, name, { ...args, version: undefined, activeNodes: undefined }, { ...opts, additionalSecretOutputs: ["probe"] }, "datamesh", "ClusterTrino");
    }
}
