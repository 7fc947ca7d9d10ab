import * as pulumi from "@pulumi/pulumi";
import { describeCertificateMismatch, isCertificateMismatch } from "../lib/certificates";
import { queryTrino, TrinoAccess, withTrino } from "../lib/trinoQuery";

/*
 * What a Trino coordinator in containers reports about itself: the release every node runs and how
 * many nodes take part, read over TCP (a published port, or a port-forward to a cluster's
 * Service). It waits until the coordinator answers a query and every expected worker has joined, so
 * what follows runs on the whole cluster, and the version output is what runs, not what was asked.
 */

interface TrinoNodesInputs {
    /** The probe user, and how to reach the coordinator (secret). */
    access: TrinoAccess;
    /** Where the coordinator runs, for messages: a namespace, or a container. */
    where: string;
    /** Nodes expected: the coordinator and every worker. */
    nodes: number;
    /** Changes whenever the coordinator or a worker is rolled; a new value reads the cluster again. */
    rollout: string;
    component: string;
}

interface TrinoNodesFacts {
    version: string;
    activeNodes: number;
}

class CertificateMismatch extends Error {}

async function readCluster(inputs: TrinoNodesInputs): Promise<TrinoNodesFacts> {
    const deadline = Date.now() + 600_000;
    let last = "no answer yet";
    while (Date.now() < deadline) {
        try {
            const facts = await withTrino(inputs.access, async connection => {
                try {
                    const { rows } = await queryTrino(connection, "SELECT node_version, count(*) FROM system.runtime.nodes WHERE state = 'active' GROUP BY node_version");
                    return rows.map(([version, count]) => ({ version: String(version), count: Number(count) }));
                } catch (error) {
                    if (isCertificateMismatch(error)) {
                        // No wait cures a certificate the stack does not trust: say at once what was presented and what was expected.
                        const port = Number(new URL(connection.url).port) || 443;
                        throw new CertificateMismatch(`${inputs.component}: ${await describeCertificateMismatch(port, connection.caCert ?? "", error as Error)}`);
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
    throw new Error(`${inputs.component}: Trino (${inputs.where}) is not ready: ${last}`);
}

const trinoNodesProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: TrinoNodesInputs) {
        const facts = await readCluster(inputs);
        return { id: inputs.where, outs: { ...inputs, ...facts } };
    },
    async diff(_id: string, olds: TrinoNodesInputs, news: TrinoNodesInputs) {
        return { changes: olds.rollout !== news.rollout || olds.nodes !== news.nodes };
    },
    async update(_id: string, _olds: TrinoNodesInputs, news: TrinoNodesInputs) {
        return { outs: { ...news, ...(await readCluster(news)) } };
    },
};

export interface TrinoNodesArgs {
    /** The probe user, and how to reach the coordinator: its URL, or a cluster Service's port-forward (secret). */
    access: pulumi.Input<TrinoAccess>;
    /** Where the coordinator runs, for messages. */
    where: string;
    /** The coordinator and every worker. */
    nodes: number;
    /** A digest of the nodes' specs; a new value reads the nodes again after they are replaced. */
    rollout: pulumi.Input<string>;
    /** Names the owning component in errors. */
    component: string;
}

/** The running Trino cluster's release and node count, read from the coordinator. */
export class TrinoNodes extends pulumi.dynamic.Resource {
    public readonly version!: pulumi.Output<string>;
    public readonly activeNodes!: pulumi.Output<number>;

    constructor(name: string, args: TrinoNodesArgs, opts?: pulumi.CustomResourceOptions) {
        super(trinoNodesProvider, name, { ...args, version: undefined, activeNodes: undefined }, { ...opts, additionalSecretOutputs: ["access"] }, "datamesh", "TrinoNodes");
    }
}
