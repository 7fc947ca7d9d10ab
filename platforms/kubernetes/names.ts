/** The label every stack of this program gives its objects, whichever stack it is. */
export const PART_OF_MESH = { "app.kubernetes.io/part-of": "datamesh" };

/** The Service and namespace a cluster DNS name (`<service>.<namespace>.svc[.cluster.local]`) names; undefined for any other host. */
export function serviceOfHost(host: string): { service: string; namespace: string } | undefined {
    const match = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.cluster\.local)?$/.exec(host);
    return match ? { service: match[1], namespace: match[3] } : undefined;
}
