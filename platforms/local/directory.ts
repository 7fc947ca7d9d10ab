import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";

/*
 * A folder owned by the stack: created on deploy, removed with everything in it on destroy. The
 * stack's state folder is one; everything else local depends on it, so it goes last.
 */
const directoryProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: { path: string }) {
        fs.mkdirSync(inputs.path, { recursive: true, mode: 0o755 });
        return { id: inputs.path, outs: inputs };
    },
    async diff(_id: string, olds: { path: string }, news: { path: string }) {
        const moved = olds.path !== news.path;
        return { changes: moved || !fs.existsSync(olds.path), replaces: moved ? ["path"] : [] };
    },
    async update(_id: string, _olds: { path: string }, news: { path: string }) {
        fs.mkdirSync(news.path, { recursive: true, mode: 0o755 });
        return { outs: news };
    },
    async delete(_id: string, olds: { path: string }) {
        fs.rmSync(olds.path, { recursive: true, force: true });
    },
};

export class LocalDirectory extends pulumi.dynamic.Resource {
    public readonly path!: pulumi.Output<string>;

    constructor(name: string, args: { path: pulumi.Input<string> }, opts?: pulumi.CustomResourceOptions) {
        super(directoryProvider, name, { ...args }, opts, "datamesh", "LocalDirectory");
    }
}
