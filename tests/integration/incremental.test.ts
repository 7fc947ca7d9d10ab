import * as fs from "fs";
import * as path from "path";
import { clientTlsOf } from "../../resources/domainData";
import { createMesh, MeshUnderTest, queryAsText } from "./harness";

jest.setTimeout(900_000);

/*
 * Incremental insights on a real local stack at datamesh:scale=100 (10,000 customers): domain
 * owners write to their own databases, and the next `pulumi up` rebuilds only the keys the
 * changes affect, checks them against their audits, and publishes. The steps share the stack and
 * run in order.
 */

const MARTS = ["dim_customers", "fct_orders"];
const DIM_CUSTOMERS_MODEL = path.join("dbt", "models", "marts", "dim_customers.sql");
/** A customer that none of the owners' changes below touches: not 7, 20-22, nor a customer of orders 11-12, 31-32, 51-52 or 71-72. */
const UNAFFECTED_CUSTOMER = 9000;
/** A payment written while an up runs, of an order none of the owners' changes below touches. */
const PAYMENT_WRITTEN_DURING_UP = 5000;

interface Published {
    run: string;
    rows: Record<string, string[][]>;
}

async function published(mesh: MeshUnderTest): Promise<Published> {
    const views = await queryAsText(mesh, "SELECT table_name, view_definition FROM insights.information_schema.views WHERE table_schema = 'jaffle_shop' ORDER BY table_name");
    const runs = new Set(views.rows.map(([, definition]) => /FROM\s+insights\.(\w+)\./i.exec(definition)?.[1]));
    expect(runs.size).toBe(1);
    const rows: Record<string, string[][]> = {};
    for (const [table, key] of [["dim_customers", "customer_id"], ["fct_orders", "order_id"]]) {
        rows[table] = (await queryAsText(mesh, `SELECT * FROM insights.jaffle_shop.${table} ORDER BY ${key}`)).rows;
    }
    return { run: [...runs][0]!, rows };
}

async function outputsOf(mesh: MeshUnderTest) {
    const outputs = await mesh.stack.outputs();
    return { refresh: String(outputs.mesh.value.insights.refresh), check: String(outputs.check.value), run: String(outputs.publishedRun.value) };
}

async function ordersDb(mesh: MeshUnderTest) {
    const { orders } = (await mesh.stack.outputs()).domains.value;
    const mysql = require("mysql2/promise");
    return mysql.createConnection({ ...clientTlsOf(orders.engine, orders.tls), host: orders.host, port: orders.port, user: orders.user, password: orders.password, database: orders.database });
}

async function postgresDb(mesh: MeshUnderTest, domain: "customers" | "payments") {
    const db = (await mesh.stack.outputs()).domains.value[domain];
    const pg = require("pg");
    const client = new pg.Client({ ...clientTlsOf(db.engine, db.tls), host: db.host, port: db.port, user: db.user, password: db.password, database: db.database });
    await client.connect();
    return client;
}

async function writePayments(mesh: MeshUnderTest, sql: string): Promise<void> {
    const payments = await postgresDb(mesh, "payments");
    try {
        await payments.query(sql);
    } finally {
        await payments.end();
    }
}

/** The SQL dbt ran for the last build's test whose name starts with `prefix`, from its run results. */
function compiledTest(mesh: MeshUnderTest, prefix: string): string {
    const results: { results: { unique_id: string; compiled_code?: string }[] } = JSON.parse(fs.readFileSync(path.join(mesh.stateDir, "dbt-run", "target", "run_results.json"), "utf8"));
    const tests = results.results.filter(result => result.unique_id.startsWith(`test.jaffle_shop_mesh.${prefix}`));
    expect(tests).toHaveLength(1);
    return tests[0].compiled_code ?? "";
}

/** Inserts, updates and deletes in two domains, as their owners, the way an owner corrects its data. */
async function ownersChangeRows(mesh: MeshUnderTest, round: number) {
    const orders = await ordersDb(mesh);
    try {
        // A new order with a payment, an order moved to another customer, and an order deleted with its payments.
        await orders.query(`INSERT INTO orders (id, user_id, order_date, status) VALUES (${900000 + round}, 7, '2026-12-01', 'placed')`);
        await orders.query(`UPDATE orders SET user_id = ${20 + round} WHERE id = ${30 + round}`);
        await orders.query(`DELETE FROM orders WHERE id = ${50 + round}`);
    } finally {
        await orders.end();
    }
    const payments = await postgresDb(mesh, "payments");
    try {
        await payments.query(`INSERT INTO payments (id, order_id, payment_method, amount) VALUES (${900000 + round}, ${900000 + round}, 'coupon', 1234)`);
        await payments.query(`UPDATE payments SET amount = amount + 101 WHERE id = ${10 + round}`);
        await payments.query(`DELETE FROM payments WHERE order_id = ${50 + round}`);
        await payments.query(`DELETE FROM payments WHERE id = ${70 + round}`);
    } finally {
        await payments.end();
    }
}

describe("incremental insights", () => {
    let mesh: MeshUnderTest;

    beforeAll(async () => {
        mesh = await createMesh("incremental", { scale: "100" });
        await mesh.stack.up();
    }, 900_000);

    afterAll(async () => {
        await mesh?.remove();
    });

    it("builds the first run in full, and says so", async () => {
        const { refresh, check } = await outputsOf(mesh);
        expect(refresh).toBe("full: nothing is published yet");
        expect(check).toMatch(/^OK: dim_customers 10000 rows = audit 10000/);
    });

    let incrementalRun = "";

    it("rebuilds only the keys that owners' inserts, updates and deletes in two domains affect, checked against the audits", async () => {
        const before = await published(mesh);
        await ownersChangeRows(mesh, 2);
        await mesh.stack.up();
        const { refresh, check, run } = await outputsOf(mesh);
        expect(refresh).toMatch(new RegExp(`^incremental from ${before.run}: only domain rows changed: orders\\.orders\\.orders 3 keys, payments\\.public\\.payments \\d+ keys$`));
        expect(check).toMatch(new RegExp(`^OK: incremental from ${before.run}: dim_customers 10000 rows: \\d+ re-checked = audit \\d+, customer_lifetime_value .* as in ${before.run}; fct_orders`));
        expect(run).not.toBe(before.run);
        incrementalRun = run;
        // The customers' rows read the same count and checksum as their ledger table holds, so they were not compared row by row.
        const plan = (await mesh.resourceOutputs())["dbt-plan"];
        expect(Object.keys(plan.unchanged)).toEqual(["customers.public.customers"]);
        expect(plan.unchanged["customers.public.customers"]).toMatch(/^10000:[0-9A-F]{16}$/);
        // The changed sources were read only in the key ranges whose rows differ from the ledger's.
        expect(Object.keys(plan.read).sort()).toEqual(["orders.orders.orders", "payments.public.payments"]);
        for (const read of Object.values(plan.read) as string[]) {
            const [, ranges, of] = /^(\d+) of (\d+) key ranges$/.exec(read) ?? [];
            expect({ read, fewer: Number(ranges) < Number(of) && Number(ranges) > 0 }).toEqual({ read, fewer: true });
        }
        // The customer who moved an order, and the new order, read as analysts read them.
        const moved = await queryAsText(mesh, "SELECT customer_id FROM insights.jaffle_shop.fct_orders WHERE order_id IN (32, 900002) ORDER BY order_id", "analyst");
        expect(moved.rows).toEqual([["22"], ["7"]]);
        const gone = await queryAsText(mesh, "SELECT count(*) FROM insights.jaffle_shop.fct_orders WHERE order_id = 52", "analyst");
        expect(gone.rows).toEqual([["0"]]);
    });

    it("does nothing on the next up", async () => {
        const result = await mesh.stack.up();
        expect(Object.keys(result.summary.resourceChanges ?? {})).toEqual(["same"]);
    });

    it("fails an up whose sources change after its plan read them, publishing nothing, and takes the change into the next up", async () => {
        const before = await published(mesh);
        await writePayments(mesh, `UPDATE payments SET amount = amount + 3 WHERE id = ${10 + 2}`);
        // A second owner's write lands while this up runs, once its plan has read the sources: the
        // run leaves that payment's customer as published, and dbt's own money test, which sums every
        // payment as the domain holds it now, no longer reconciles.
        let writtenDuringUp: Promise<void> | undefined;
        const failure = await mesh.stack
            .up({
                onEvent: event => {
                    if (!writtenDuringUp && event.resOutputsEvent?.metadata.urn.endsWith("::dbt-plan")) {
                        writtenDuringUp = writePayments(mesh, `UPDATE payments SET amount = amount + 7 WHERE id = ${PAYMENT_WRITTEN_DURING_UP}`);
                    }
                },
            })
            .then(
                () => "",
                (error: Error) => error.message,
            );
        expect(writtenDuringUp).toBeDefined();
        await writtenDuringUp;
        expect(failure).toMatch(/dbt build of \w+ failed; nothing was published, and the published insights are unchanged\.\n.*test assert_money_reconciles_with_payment_cents failed/);
        expect(await published(mesh)).toEqual(before);
        // The ledger still holds what the published run read, so the next up finds both payments changed.
        await mesh.stack.up();
        const { refresh, check, run } = await outputsOf(mesh);
        expect(refresh).toBe(`incremental from ${before.run}: only domain rows changed: payments.public.payments 2 keys`);
        expect(check).toMatch(new RegExp(`^OK: incremental from ${before.run}: dim_customers 10000 rows: [12] re-checked = audit [12], `));
        incrementalRun = run;
        // What analysts read for that payment's customer is what the domain holds now, the write included.
        const [[insightsValue, domainsValue]] = (
            await queryAsText(
                mesh,
                "SELECT d.customer_lifetime_value, CAST(sum(p.amount) AS decimal(38, 2)) / 100 FROM insights.jaffle_shop.dim_customers d " +
                    "JOIN orders.orders.orders o ON o.user_id = d.customer_id JOIN payments.public.payments p ON p.order_id = o.id " +
                    `WHERE d.customer_id = (SELECT user_id FROM orders.orders.orders WHERE id = (SELECT order_id FROM payments.public.payments WHERE id = ${PAYMENT_WRITTEN_DURING_UP})) ` +
                    "GROUP BY d.customer_lifetime_value",
            )
        ).rows;
        expect(insightsValue).toBe(domainsValue);
    });

    it("tests only the rows the changes can alter, and still fails a changed row that breaks a test, or an unchanged one whose parent went, keeping the published insights", async () => {
        const before = await published(mesh);
        // A payment by a method the project does not accept: only a changed row carries it.
        await writePayments(mesh, "INSERT INTO payments (id, order_id, payment_method, amount) VALUES (900100, 40, 'bitcoin', 500)");
        let failure = await mesh.stack.up().then(
            () => "",
            (error: Error) => error.message,
        );
        expect(failure).toMatch(/nothing was published[\s\S]*test accepted_values_stg_payments_payment_method\w* failed/);
        const acceptedValues = compiledTest(mesh, "accepted_values_stg_payments_payment_method");
        expect(acceptedValues).toContain("changes__payments__payments");
        expect(await published(mesh)).toEqual(before);
        await writePayments(mesh, "DELETE FROM payments WHERE id = 900100");

        // A customer deleted whose orders stay: no order changed, yet each now names a customer that is gone.
        const customers = await postgresDb(mesh, "customers");
        // A customer with orders that no other step of this suite touches.
        const orphaned = Number((await queryAsText(mesh, "SELECT min(user_id) FROM orders.orders.orders WHERE user_id BETWEEN 100 AND 8000")).rows[0][0]);
        try {
            const { rows } = await customers.query("SELECT * FROM customers WHERE id = $1", [orphaned]);
            expect(rows).toHaveLength(1);
            await customers.query("DELETE FROM customers WHERE id = $1", [orphaned]);
            failure = await mesh.stack.up().then(
                () => "",
                (error: Error) => error.message,
            );
            expect(failure).toMatch(/nothing was published[\s\S]*test relationships_stg_orders_customer_id\w* failed/);
            expect(compiledTest(mesh, "relationships_stg_orders_customer_id")).toContain("changes__customers__customers");
            expect(await published(mesh)).toEqual(before);
            const columns = Object.keys(rows[0]);
            await customers.query(`INSERT INTO customers (${columns.join(", ")}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(", ")})`, columns.map(c => rows[0][c]));
        } finally {
            await customers.end();
        }
        // Both owners put back what they had: the sources are what the published run read.
        await mesh.stack.up();
        expect(await published(mesh)).toEqual(before);
    });

    it("equals a full rebuild of the same data, row for row, in every mart", async () => {
        await mesh.stack.setConfig("datamesh:rebuild", { value: "full" });
        await mesh.stack.up();
        const { refresh, run } = await outputsOf(mesh);
        expect(refresh).toBe("full: datamesh:rebuild is full");
        expect(run).not.toBe(incrementalRun);
        // A full run's tests read every row.
        expect(compiledTest(mesh, "accepted_values_stg_payments_payment_method")).not.toContain("changes__");
        // The incremental run is kept beside it, for rollback.
        for (const mart of MARTS) {
            const counted = await queryAsText(
                mesh,
                `SELECT (SELECT count(*) FROM insights.${run}.${mart}), (SELECT count(*) FROM insights.${incrementalRun}.${mart}), ` +
                    `(SELECT count(*) FROM (SELECT * FROM insights.${run}.${mart} EXCEPT ALL SELECT * FROM insights.${incrementalRun}.${mart})), ` +
                    `(SELECT count(*) FROM (SELECT * FROM insights.${incrementalRun}.${mart} EXCEPT ALL SELECT * FROM insights.${run}.${mart}))`,
            );
            const [full, incremental, onlyFull, onlyIncremental] = counted.rows[0].map(Number);
            expect({ mart, full, incremental, onlyFull, onlyIncremental }).toEqual({ mart, full: incremental, incremental, onlyFull: 0, onlyIncremental: 0 });
            expect(full).toBeGreaterThan(0);
        }
        // Back to incremental runs, with two seeded bugs that only an incremental run makes (a wrong
        // amount would be caught first by dbt's own money test; a wrong name is the gate's alone): the
        // rebuilt rows get a wrong last name, and the run also rebuilds a customer that no change
        // affects, instead of keeping its published row. The model changed, so this run is a full one, and right.
        await mesh.stack.removeConfig("datamesh:rebuild");
        const model = path.join(mesh.projectDir, DIM_CUSTOMERS_MODEL);
        const modelText = fs.readFileSync(model, "utf8");
        const affectedCustomers = "customer_id in (select customer_id from {{ ref('affected_customers') }})";
        const seeded = modelText
            .replace(/customers\.last_name,/, "customers.last_name || '{% if incremental_base() %}x{% endif %}' as last_name,")
            .split(`where ${affectedCustomers}`)
            .join(`where (${affectedCustomers} or customer_id = ${UNAFFECTED_CUSTOMER})`)
            .replace(
                "{{ unaffected_base_rows(base_run, 'customer_id', ref('affected_customers')) }}",
                `union all select * from {{ api.Relation.create(database=target.database, schema=base_run, identifier=this.identifier) }} where not (${affectedCustomers} or customer_id = ${UNAFFECTED_CUSTOMER})`,
            );
        expect(seeded.split(String(UNAFFECTED_CUSTOMER)).length).toBe(4);
        fs.writeFileSync(model, seeded);
        await mesh.stack.up();
        expect((await outputsOf(mesh)).refresh).toBe("full: the dbt project changed");
    });

    it("falls back to a full run when a source gains a column, and says why", async () => {
        const customers = await postgresDb(mesh, "customers");
        try {
            await customers.query("ALTER TABLE customers ADD COLUMN loyalty_tier text");
        } finally {
            await customers.end();
        }
        await mesh.stack.up();
        const { refresh, check } = await outputsOf(mesh);
        expect(refresh).toMatch(/^full: a source's columns changed \(customers\.public\.customers: .*loyalty_tier\)$/);
        expect(check).toMatch(/^OK: dim_customers 10000 rows = audit 10000/);
    });

    it("catches a bug that only the rebuilt keys carry, and a kept row the run rebuilt wrong, and keeps the published insights", async () => {
        const before = await published(mesh);
        await ownersChangeRows(mesh, 1);
        const failure = await mesh.stack.up().then(
            () => "",
            (error: Error) => error.message,
        );
        expect(failure).toContain("the insights do not reconcile with the domains; nothing was published:");
        // The affected keys, compared with the audit, name the key and the column.
        expect(failure).toMatch(/\n.*dim_customers: \d+ rows differ \(0 missing, 0 extra, 0 duplicated, \d+ different\); first keys: customer_id=\d+ different: last_name '[^']*x', expected/);
        // The customer no change affects is outside them, and its row is no longer the published one.
        expect(failure).toMatch(
            new RegExp(`\\n.*dim_customers: the rows outside the keys its audit names as affected are not those of the published run ${before.run} \\((\\d+) rows here, \\1 there\\)`),
        );
        expect(failure).not.toMatch(/fct_orders: the rows outside/);
        expect(await published(mesh)).toEqual(before);
    });

    it("refuses a primary key held twice, naming the domain, table and key, and keeps the published insights", async () => {
        const before = await published(mesh);
        const payments = await postgresDb(mesh, "payments");
        try {
            await payments.query("ALTER TABLE payments DROP CONSTRAINT payments_pkey");
            await payments.query("INSERT INTO payments (id, order_id, payment_method, amount) SELECT id, order_id, payment_method, amount + 1 FROM payments WHERE id = 5");
        } finally {
            await payments.end();
        }
        await expect(mesh.stack.up()).rejects.toThrow(/domain 'payments' table payments holds primary key id=5 more than once, so its changes cannot be merged; nothing was built and the published insights are unchanged/);
        expect(await published(mesh)).toEqual(before);
    });
});
