import { heapMegabytes } from "../../catalogs/trino";

/*
 * Requests and limits for every container, so the mesh schedules predictably next to other
 * workloads. Trino's memory follows its heap: the JVM needs room beyond -Xmx for code, threads
 * and direct buffers, so the container gets half as much again.
 */

export interface ResourceSize {
    cpuRequest: string;
    cpuLimit: string;
    memoryMiB: number;
}

export const RESOURCE_SIZES = {
    database: { cpuRequest: "100m", cpuLimit: "1", memoryMiB: 512 },
    objectStore: { cpuRequest: "100m", cpuLimit: "1", memoryMiB: 512 },
    job: { cpuRequest: "100m", cpuLimit: "500m", memoryMiB: 256 },
    dbt: { cpuRequest: "250m", cpuLimit: "1", memoryMiB: 1024 },
    trino: (maxHeap: string): ResourceSize => ({ cpuRequest: "250m", cpuLimit: "2", memoryMiB: Math.ceil((heapMegabytes(maxHeap) * 1.5) / 64) * 64 }),
};

/** Memory is requested at its limit so the kernel never reclaims what the JVM was promised. */
export function resources(size: ResourceSize) {
    return {
        requests: { cpu: size.cpuRequest, memory: `${size.memoryMiB}Mi` },
        limits: { cpu: size.cpuLimit, memory: `${size.memoryMiB}Mi` },
    };
}
