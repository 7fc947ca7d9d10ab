import * as fs from "fs";
import * as path from "path";
import { auditColumns, auditRelations, readAudits } from "../../lib/audits";
import { DOMAINS } from "../../lib/domains";
import { makeTempDir } from "./tempDirs";

/*
 * The audits the gate compares every public model with, read from the dbt project before any
 * resource exists: each bad audit is refused naming the file and the field.
 */

const REPO_DBT = path.join(__dirname, "..", "..", "dbt");

const MART_YML = (audit: string) => `models:
  - name: fct_refunds
    config:
      access: public
      contract:
        enforced: true
${audit}
    columns:
      - name: order_id
        data_type: bigint
      - name: status
        data_type: varchar
      - name: refunded
        data_type: decimal(18, 2)
`;

const AUDIT_META = (fields: string) => `      meta:
        audit:
${fields}`;

const GOOD_FIELDS = `          query: audits/fct_refunds.sql
          key: [order_id]
          money: [refunded]
`;

const GOOD_QUERY = `-- refunds: returned orders and what was paid for them
select o.id as order_id, o.status, cast(coalesce(sum(p.amount), 0) as decimal(38, 2)) / 100 as refunded
from orders.orders.orders o
left join payments.public.payments p on p.order_id = o.id
where o.status in ('returned', 'return_pending')
group by o.id, o.status
`;

/** A dbt project with one public model, fct_refunds, and the given properties and audit query. */
function project(yml: string, query: string | null = GOOD_QUERY): string {
    const dir = makeTempDir("audits");
    fs.mkdirSync(path.join(dir, "models", "marts"), { recursive: true });
    fs.writeFileSync(path.join(dir, "models", "marts", "fct_refunds.yml"), yml);
    if (query !== null) {
        fs.mkdirSync(path.join(dir, "audits"));
        fs.writeFileSync(path.join(dir, "audits", "fct_refunds.sql"), query);
    }
    return dir;
}

function refusal(dir: string): string {
    try {
        readAudits(dir, DOMAINS);
    } catch (error) {
        return (error as Error).message;
    }
    throw new Error("the audits were accepted");
}

describe("the project's own audits", () => {
    it("cover every public model of the jaffle_shop project, keyed and with their money columns", () => {
        const audits = readAudits(REPO_DBT, DOMAINS);
        expect(audits.map(a => ({ model: a.model, key: a.key, money: a.money }))).toEqual([
            { model: "dim_customers", key: ["customer_id"], money: ["customer_lifetime_value"] },
            { model: "fct_orders", key: ["order_id"], money: ["credit_card_amount", "coupon_amount", "bank_transfer_amount", "gift_card_amount", "amount"] },
        ]);
        expect(audits[1].textColumns).toEqual(["status"]);
        // Both name the keys a change of domain rows may alter, so a change can be checked incrementally.
        expect(audits.map(a => a.affected?.match(/changes\('[\w.]+'\)/g))).toEqual([
            ["changes('customers.public.customers')", "changes('orders.orders.orders')", "changes('payments.public.payments')"],
            ["changes('orders.orders.orders')", "changes('payments.public.payments')"],
        ]);
    });
});

describe("an audit", () => {
    it("is read with its key, money, contract columns and query", () => {
        const [audit] = readAudits(project(MART_YML(AUDIT_META(GOOD_FIELDS))), DOMAINS);
        expect(audit).toEqual({
            model: "fct_refunds",
            query: GOOD_QUERY.trim(),
            key: ["order_id"],
            columns: ["order_id", "status", "refunded"],
            textColumns: ["status"],
            money: ["refunded"],
        });
    });

    it("is required of every public model, naming the file and the model", () => {
        const dir = project(MART_YML(""));
        expect(refusal(dir)).toContain(`${path.join(dir, "models", "marts", "fct_refunds.yml")}: models[0] (fct_refunds): a public model needs an audit before analysts may read it`);
    });

    it("may not read a dbt model, or any table no domain declares", () => {
        const dir = project(MART_YML(AUDIT_META(GOOD_FIELDS)), GOOD_QUERY.replace("payments.public.payments", "insights.jaffle_shop.fct_orders"));
        const message = refusal(dir);
        expect(message).toContain(`${path.join(dir, "audits", "fct_refunds.sql")}: the audit of fct_refunds reads insights.jaffle_shop.fct_orders, which is not a table any domain declares`);
        const unqualified = project(MART_YML(AUDIT_META(GOOD_FIELDS)), GOOD_QUERY.replace("payments.public.payments", "stg_payments"));
        expect(refusal(unqualified)).toContain("reads stg_payments, which is not a table any domain declares");
        const undeclared = project(MART_YML(AUDIT_META(GOOD_FIELDS)), GOOD_QUERY.replace("payments.public.payments", "payments.public.refunds"));
        expect(refusal(undeclared)).toContain("reads payments.public.refunds, which is not a table any domain declares");
    });

    it("must return exactly the contract's columns", () => {
        const dir = project(MART_YML(AUDIT_META(GOOD_FIELDS)), GOOD_QUERY.replace("o.status,", "o.status as order_status,"));
        expect(refusal(dir)).toContain(
            `${path.join(dir, "audits", "fct_refunds.sql")}: the audit of fct_refunds returns order_id, order_status, refunded, but the model's contract in ${path.join(dir, "models", "marts", "fct_refunds.yml")} has order_id, status, refunded; missing: status; not in the contract: order_status`,
        );
    });

    it("that does not parse is refused, naming its file", () => {
        const dir = project(MART_YML(AUDIT_META(GOOD_FIELDS)), GOOD_QUERY.replace("sum(p.amount)", "sum(p.amount"));
        expect(refusal(dir)).toContain(`${path.join(dir, "audits", "fct_refunds.sql")}: the audit of fct_refunds does not parse: a '(' is never closed`);
        const unnamed = project(MART_YML(AUDIT_META(GOOD_FIELDS)), GOOD_QUERY.replace("/ 100 as refunded", "/ 100"));
        expect(refusal(unnamed)).toMatch(/the audit of fct_refunds does not parse: the final SELECT's item 'cast\(.*\) \/ 100' has no name: name it with AS/);
    });

    it("names a missing query file, a key or money column outside the contract, and money that is not exact", () => {
        const yml = (fields: string) => MART_YML(AUDIT_META(fields));
        const at = (dir: string) => `${path.join(dir, "models", "marts", "fct_refunds.yml")}: models[0] (fct_refunds).config.meta.audit`;
        const noFile = project(yml(GOOD_FIELDS), null);
        expect(refusal(noFile)).toContain(`${at(noFile)}.query: ${path.join(noFile, "audits", "fct_refunds.sql")} does not exist`);
        const badKey = project(yml(GOOD_FIELDS.replace("[order_id]", "[id]")));
        expect(refusal(badKey)).toContain(`${at(badKey)}.key: 'id' is not a column of the model's contract (order_id, status, refunded)`);
        const noKey = project(yml(GOOD_FIELDS.replace("          key: [order_id]\n", "")));
        expect(refusal(noKey)).toContain(`${at(noKey)}.key: the model's key columns are missing`);
        const inexact = project(yml(GOOD_FIELDS.replace("money: [refunded]", "money: [status]")));
        expect(refusal(inexact)).toContain(`${at(inexact)}.money: 'status' is varchar; money is compared exactly, so its contract type must be decimal(p, s)`);
    });
});

describe("reading an audit's SQL", () => {
    it("finds the returned columns by name or alias, past WITH queries, comments, strings and nested selects", () => {
        const sql = `with x as (select 1 as a, 'from, select' as b from orders.orders.orders) -- select nothing
            select distinct x.a, lower('a,b') as b, (select max(id) from customers.public.customers) as c, extract(year from d) y from x`;
        expect(auditColumns(sql)).toEqual(["a", "b", "c", "y"]);
    });

    it("finds every relation read, and the WITH names that are not relations", () => {
        const sql = `with paid as (select order_id from payments.public.payments), o as (select * from orders.orders.orders)
            select extract(year from o.order_date) as y, paid.order_id from o join paid on paid.order_id = o.id, customers.public.customers c`;
        const { relations, ctes } = auditRelations(sql);
        expect(relations.sort()).toEqual(["customers.public.customers", "o", "orders.orders.orders", "paid", "payments.public.payments"]);
        expect(ctes.sort()).toEqual(["o", "paid"]);
    });
});

describe("an audit's affected keys", () => {
    const FIELDS = `${GOOD_FIELDS}          affected: audits/fct_refunds_affected.sql\n`;
    const GOOD_AFFECTED = `-- the orders whose refund a change may alter
select id as order_id from {{ changes('orders.orders.orders') }}
union
select order_id from {{ changes('payments.public.payments') }}
`;

    function withAffected(sql: string | null): string {
        const dir = project(MART_YML(AUDIT_META(FIELDS)));
        if (sql !== null) {
            fs.writeFileSync(path.join(dir, "audits", "fct_refunds_affected.sql"), sql);
        }
        return dir;
    }

    it("is read as written, its changes references kept for the run to resolve", () => {
        const [audit] = readAudits(withAffected(GOOD_AFFECTED), DOMAINS);
        expect(audit.affected).toBe(GOOD_AFFECTED.trim());
    });

    it("is optional: without it the model is checked in full on every run", () => {
        const [audit] = readAudits(project(MART_YML(AUDIT_META(GOOD_FIELDS))), DOMAINS);
        expect(audit.affected).toBeUndefined();
    });

    it("refuses a missing file, columns other than the key, an undeclared table, and the changes of an undeclared table, naming the file", () => {
        const missing = withAffected(null);
        expect(refusal(missing)).toContain(`config.meta.audit.affected: ${path.join(missing, "audits", "fct_refunds_affected.sql")} does not exist`);
        const file = (dir: string) => path.join(dir, "audits", "fct_refunds_affected.sql");
        const wrongColumns = withAffected("select id as order_id, status from {{ changes('orders.orders.orders') }}");
        expect(refusal(wrongColumns)).toContain(`${file(wrongColumns)}: the affected keys of fct_refunds return order_id, status; they must return the audit's key, order_id`);
        const model = withAffected("select order_id from insights.jaffle_shop.fct_orders");
        expect(refusal(model)).toContain(`${file(model)}: the affected keys of fct_refunds read insights.jaffle_shop.fct_orders, which is not a table any domain declares`);
        const undeclared = withAffected("select id as order_id from {{ changes('shipping.public.parcels') }}");
        expect(refusal(undeclared)).toContain(`${file(undeclared)}: the affected keys of fct_refunds read the changes of shipping.public.parcels, which is not a table any domain declares`);
        const otherTemplate = withAffected("select id as order_id from {{ ref('stg_orders') }}");
        expect(refusal(otherTemplate)).toContain(`${file(otherTemplate)}: the affected keys of fct_refunds use a template other than {{ changes('catalog.schema.table') }}`);
    });
});
