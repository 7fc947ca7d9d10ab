import * as fs from "fs";
import * as path from "path";
import type { Browser, Page } from "playwright-core";
import { readDomainFile } from "../../lib/dataset";
import { jaffleTable } from "../../lib/domains";
import { queryTrino } from "../../lib/trinoQuery";
import { LINEAGE_PICTURE, LINEAGE_PICTURE_DIGEST, lineagePictureDigest } from "../lineagePicture";
import { allSecrets, createMesh, MeshUnderTest, REPO_DIR } from "./harness";

jest.setTimeout(900_000);

/*
 * What a person sees of the mesh, in a real browser: the dbt docs site the stack serves, with the
 * lineage from the three domains to dim_customers, and Trino's own web UI, logged in as the
 * analyst. Debian's Chromium, driven by playwright-core; both are installed by scripts/setup.sh.
 */

const CHROMIUM = process.env.DATAMESH_CHROMIUM ?? "/usr/bin/chromium";
/** Where the test run keeps its screenshots; CI keeps the folder after the run. */
const ARTIFACTS_DIR = process.env.DATAMESH_TEST_ARTIFACTS ?? path.join(REPO_DIR, "test-artifacts");

let mesh: MeshUnderTest;
let browser: Browser;

async function launchChromium(): Promise<Browser> {
    if (!fs.existsSync(CHROMIUM)) {
        throw new Error(`no Chromium at ${CHROMIUM}: the browser tests need Debian's chromium package; run scripts/setup.sh (or set DATAMESH_CHROMIUM)`);
    }
    const { chromium } = await import("playwright-core");
    // A closed network: without these, Chromium keeps trying to reach Google's services at start.
    return chromium.launch({
        executablePath: CHROMIUM,
        args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
}

async function screenshot(page: Page, name: string): Promise<string> {
    fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
    const file = path.join(ARTIFACTS_DIR, name);
    await page.screenshot({ path: file });
    return file;
}

beforeAll(async () => {
    browser = await launchChromium();
    mesh = await createMesh("lineage");
    await mesh.stack.up();
});

afterAll(async () => {
    await browser?.close();
    await mesh?.remove();
});

describe("the dbt docs site", () => {
    it("is served at docsUrl, and shows dim_customers fed by the customers, orders and payments sources", async () => {
        const docsUrl: string = (await mesh.stack.outputs()).docsUrl.value;
        expect(docsUrl).toBe(`http://127.0.0.1:${mesh.trinoPort + 2}/`);
        const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
        await page.goto(docsUrl);
        await page.fill("input[ng-model='search.query']", "dim_customers");
        await page.locator(".search-result", { hasText: "dim_customers" }).first().click();
        await page.waitForURL(/#!\/model\/model\.jaffle_shop_mesh\.dim_customers/);
        await page.getByTitle("View Lineage Graph").click();
        await page.locator("a[ng-click='showExpanded()']").click();
        // The graph the page drew: every node upstream of dim_customers, read from its own cytoscape graph
        // (the project has no DOM types, so the page's code is given as text).
        const upstream = await page.waitForFunction(`(() => {
            const graph = document.querySelector("#cy")?._cyreg?.cy;
            const node = graph?.getElementById("model.jaffle_shop_mesh.dim_customers");
            const ids = node && node.length > 0 ? node.predecessors("node").map(n => n.id()) : [];
            return ids.some(id => id.startsWith("source.")) ? ids : undefined;
        })()`);
        const ids = (await upstream.jsonValue()) as string[];
        expect(ids).toEqual(
            expect.arrayContaining([
                "source.jaffle_shop_mesh.customers.customers",
                "source.jaffle_shop_mesh.orders.orders",
                "source.jaffle_shop_mesh.payments.payments",
                "model.jaffle_shop_mesh.stg_customers",
                "model.jaffle_shop_mesh.stg_orders",
                "model.jaffle_shop_mesh.stg_payments",
            ]),
        );
        // The pointer away from the buttons' tooltips, and the layout settled, before the picture is taken.
        await page.mouse.move(0, 0);
        await page.waitForTimeout(1500);
        const picture = await screenshot(page, "lineage-graph.png");
        if (process.env.DATAMESH_REFRESH_LINEAGE_PICTURE === "1") {
            fs.copyFileSync(picture, LINEAGE_PICTURE);
            fs.writeFileSync(LINEAGE_PICTURE_DIGEST, `${lineagePictureDigest()}\n`);
        }
        await page.close();
    });

    it("names each domain's owner and describes it, and holds no credential and no personal data", async () => {
        const docsUrl: string = (await mesh.stack.outputs()).docsUrl.value;
        const html = await (await fetch(docsUrl)).text();
        for (const owner of ["customers_owner", "orders_owner", "payments_owner"]) {
            expect(html).toContain(owner);
        }
        expect(html).toContain("The customers domain (PostgreSQL)");
        for (const secret of await allSecrets(mesh)) {
            expect({ secretFound: html.includes(secret) }).toEqual({ secretFound: false });
        }
        const emails = readDomainFile(jaffleTable("customers"), path.join(REPO_DIR, "data", "jaffle_shop")).map(row => String(row[3]));
        expect(emails.length).toBeGreaterThan(0);
        expect(emails.filter(email => html.includes(email))).toEqual([]);
    });
});

describe("Trino's web UI", () => {
    it("lets the analyst log in over HTTPS and lists the query the analyst ran, and no one else's", async () => {
        const outputs = await mesh.stack.outputs();
        const uiUrl: string = outputs.trinoUiUrl.value;
        expect(uiUrl).toBe(`${mesh.trinoUrl}/ui/`);
        const analyst = await mesh.connection("analyst");
        const marker = `lineage_test_${Date.now()}`;
        await queryTrino(analyst, `SELECT count(*) AS ${marker} FROM insights.jaffle_shop.dim_customers`);
        // The certificate is the stack's own CA, which the other tests verify with Node's TLS; Chromium is not given it.
        const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 } });
        const page = await context.newPage();
        await page.goto(uiUrl);
        await page.waitForURL(/\/ui\/login\.html/);
        await page.fill("#username", "analyst");
        await page.fill("#password", analyst.password!);
        await page.click("#submit");
        await page.waitForURL(/\/ui\/$/);
        // The finished queries are listed once the overview's first refresh has loaded them.
        await page.locator("button", { hasText: "Finished" }).click();
        await page.getByText(marker).first().waitFor({ timeout: 30_000 });
        // The analyst sees its own queries only: none of the many dbt ran to build the insights.
        expect(await page.getByText("dbt-trino").count()).toBe(0);
        await screenshot(page, "trino-ui.png");
        await context.close();
    });

    it("refuses the analyst a wrong password", async () => {
        const context = await browser.newContext({ ignoreHTTPSErrors: true });
        const page = await context.newPage();
        await page.goto(`${mesh.trinoUrl}/ui/`);
        await page.fill("#username", "analyst");
        await page.fill("#password", "not-the-password");
        await page.click("#submit");
        await page.waitForLoadState("networkidle");
        expect(page.url()).toMatch(/\/ui\/login\.html/);
        await context.close();
    });
});
