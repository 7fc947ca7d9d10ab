import * as net from "net";
import { createMesh, MeshUnderTest } from "./harness";

// Deployments take minutes; every step here waits for a real `pulumi up`.
jest.setTimeout(900_000);

/*
 * Input the stack must refuse, each against a fresh stack: the error names the key or the port
 * and component, and nothing is left half-created.
 */

async function resourceTypes(mesh: MeshUnderTest): Promise<string[]> {
    const deployment = await mesh.stack.exportStack();
    return (deployment.deployment.resources ?? []).map((r: { type: string }) => r.type);
}

describe("bad input", () => {
    it("rejects an unknown platform and a zero scale before any resource is created", async () => {
        const mesh = await createMesh("badconfig", { platform: "nomad", scale: "0" });
        try {
            const failure = mesh.stack.up();
            await expect(failure).rejects.toThrow(/datamesh:platform: Invalid option/);
            await expect(failure).rejects.toThrow(/datamesh:scale: Too small: expected number to be >=1/);
            const created = (await resourceTypes(mesh)).filter(t => t !== "pulumi:pulumi:Stack" && !t.startsWith("pulumi:providers:"));
            expect(created).toEqual([]);
        } finally {
            await mesh.remove();
        }
    }, 300_000);

    it("names the port and the component when a port is already taken", async () => {
        const mesh = await createMesh("porttaken");
        const squatter = net.createServer();
        await new Promise<void>(resolve => squatter.listen(mesh.basePort + 1, "127.0.0.1", resolve));
        try {
            await expect(mesh.stack.up()).rejects.toThrow(`orders: port ${mesh.basePort + 1} on 127.0.0.1 is already in use`);
        } finally {
            await new Promise(resolve => squatter.close(resolve));
            await mesh.remove();
        }
    }, 600_000);
});
