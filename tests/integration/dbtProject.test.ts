import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseCsv } from "../../lib/csv";
import { CANONICAL_DATA_DIR } from "../../lib/dataset";
import { centsToDollars } from "../reference";
import { createMesh, MeshUnderTest, piiHash, piiMaskKey, queryAsText, REPO_DIR } from "./harness";

jest.setTimeout(900_000);

/*
 * A dbt project from outside the repository (tests/fixtures/compose_demo_dbt), written for the
 * docker-compose demo: `select *` from its sources, its own vars, one public mart with an audit.
 * The mesh masks the customers' email with a keyed hash, so the `select *` builds, and the gate
 * checks the mart against its audit before the analyst reads it.
 */

const FIXTURE = path.join(REPO_DIR, "tests", "fixtures", "compose_demo_dbt");

function csvRows(file: string): string[][] {
    const full = path.join(CANONICAL_DATA_DIR, file);
    return parseCsv(fs.readFileSync(full, "utf8"), full)
        .slice(1)
        .map(record => record.fields);
}

/** customer_revenue computed here from the canonical CSVs, apart from Trino and dbt: id, first name, dollars paid. */
function expectedRevenue(): [string, string, string][] {
    const customerOf = new Map(csvRows("orders.csv").map(([id, userId]) => [id, userId]));
    const cents = new Map<string, bigint>();
    for (const [, orderId, , amount] of csvRows("payments.csv")) {
        const customer = customerOf.get(orderId);
        if (customer) {
            cents.set(customer, (cents.get(customer) ?? 0n) + BigInt(amount));
        }
    }
    return csvRows("customers.csv")
        .map(([id, firstName]) => [id, firstName, centsToDollars(cents.get(id) ?? 0n)] as [string, string, string])
        .sort((a, b) => Number(a[0]) - Number(b[0]));
}

describe("a dbt project from outside the repository", () => {
    let mesh: MeshUnderTest;
    let projectCopy: string;

    beforeAll(async () => {
        // Anywhere on the machine, not inside the stack's own project.
        projectCopy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "datamesh-it-byo-dbt-")), "compose_demo");
        fs.cpSync(FIXTURE, projectCopy, { recursive: true });
        mesh = await createMesh("byo-dbt", { dbtProject: projectCopy });
        // The customers domain lets everyone but its owner read email as a keyed hash, so `select *` builds.
        const declaration = path.join(mesh.projectDir, "domains", "customers.yaml");
        const text = fs.readFileSync(declaration, "utf8");
        expect(text).toMatch(/pii: \[email\]/);
        fs.writeFileSync(declaration, text.replace(/pii: \[email\]/, "pii: { email: hash }"));
        await mesh.stack.up();
    }, 900_000);

    afterAll(async () => {
        try {
            await mesh?.remove();
        } finally {
            fs.rmSync(path.dirname(projectCopy), { recursive: true, force: true });
        }
    }, 300_000);

    it("publishes its public mart to the analyst, equal to a computation from the CSVs, after the gate checked it", async () => {
        const outputs = await mesh.stack.outputs();
        expect(outputs.mesh.value.insights.publicTables).toEqual(["customer_revenue"]);
        // Published under the project's own name, which it gives no insights_schema var.
        expect(outputs.insights.value).toEqual({ catalog: "insights", schema: "compose_demo" });
        expect(outputs.check.value).toMatch(/^OK: customer_revenue 100 rows = audit 100, revenue 1672\.00 = audit 1672\.00; published compose_demo__[0-9a-f]{12}, /);
        const published = await queryAsText(mesh, "SELECT customer_id, first_name, revenue FROM insights.compose_demo.customer_revenue ORDER BY customer_id", "analyst");
        expect(published.rows).toEqual(expectedRevenue());
        await expect(queryAsText(mesh, "SELECT count(*) FROM insights.compose_demo.dim_customers", "analyst")).rejects.toThrow(/does not exist|Access Denied/);
    });

    it("built its select * staging views with the email masked, and no clear email reached any table it built", async () => {
        const key = await piiMaskKey(mesh);
        const emails = csvRows("customers.csv").map(row => row[3]);
        const hash = (email: string) => piiHash(email, key);
        const contacts = await queryAsText(mesh, "SELECT contact FROM insights.compose_demo.customer_revenue ORDER BY customer_id", "analyst");
        expect(contacts.rows.map(([contact]) => contact)).toEqual(csvRows("customers.csv").map(row => hash(row[3])));
        const run = (await mesh.stack.outputs()).publishedRun.value;
        const tables = (await queryAsText(mesh, `SELECT table_name FROM insights.information_schema.tables WHERE table_schema = '${run}' ORDER BY 1`)).rows.flat();
        expect(tables).toEqual(["customer_revenue", "stg_customers", "stg_orders", "stg_payments"]);
        const everything = (await Promise.all(tables.map(table => queryAsText(mesh, `SELECT * FROM insights.${run}.${table}`)))).map(t => JSON.stringify(t)).join("\n");
        expect(emails.filter(email => everything.includes(email))).toEqual([]);
    });

    it("never writes into the project's own folder, which stays as the team wrote it", () => {
        const files = (dir: string): string[] => fs.readdirSync(dir, { recursive: true }).map(String).sort();
        expect(files(projectCopy)).toEqual(files(FIXTURE));
    });
});
