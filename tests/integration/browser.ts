import * as fs from "fs";
import * as path from "path";
import type { Browser, Page } from "playwright-core";
import { REPO_DIR } from "./harness";

/*
 * The browser the tests look at the mesh with: Debian's Chromium driven by playwright-core, both
 * installed by scripts/setup.sh, and what they read from the dbt docs site.
 */

const CHROMIUM = process.env.DATAMESH_CHROMIUM ?? "/usr/bin/chromium";
/** Where the test run keeps its screenshots; CI keeps the folder after the run. */
const ARTIFACTS_DIR = process.env.DATAMESH_TEST_ARTIFACTS ?? path.join(REPO_DIR, "test-artifacts");

/** The nodes upstream of dim_customers: the three domains' sources and their staging views. */
export const DIM_CUSTOMERS_UPSTREAM = [
    "source.jaffle_shop_mesh.customers.customers",
    "source.jaffle_shop_mesh.orders.orders",
    "source.jaffle_shop_mesh.payments.payments",
    "model.jaffle_shop_mesh.stg_customers",
    "model.jaffle_shop_mesh.stg_orders",
    "model.jaffle_shop_mesh.stg_payments",
];

export async function launchChromium(): Promise<Browser> {
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

export async function screenshot(page: Page, name: string): Promise<string> {
    fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
    const file = path.join(ARTIFACTS_DIR, name);
    await page.screenshot({ path: file });
    return file;
}

/**
 * Opens the docs site, finds the model by its search box, opens its full lineage graph, and returns
 * every node upstream of it, read from the page's own cytoscape graph once the sources are drawn.
 */
export async function lineageUpstream(page: Page, docsUrl: string, model: string): Promise<string[]> {
    // Straight to the model's page: a search for its name also finds the models that mention it.
    await page.goto(`${docsUrl}#!/model/model.jaffle_shop_mesh.${model}`);
    await page.waitForURL(new RegExp(`#!/model/model\\.jaffle_shop_mesh\\.${model}`));
    await page.getByTitle("View Lineage Graph").click();
    await page.locator("a[ng-click='showExpanded()']").click();
    // The project has no DOM types, so the page's code is given as text.
    const upstream = await page.waitForFunction(`(() => {
        const graph = document.querySelector("#cy")?._cyreg?.cy;
        const node = graph?.getElementById("model.jaffle_shop_mesh.${model}");
        const ids = node && node.length > 0 ? node.predecessors("node").map(n => n.id()) : [];
        return ids.some(id => id.startsWith("source.")) ? ids : undefined;
    })()`);
    return (await upstream.jsonValue()) as string[];
}

/**
 * Logs in to Trino's web UI as the analyst and opens the finished queries: whether the query
 * carrying the marker is listed, and how many of dbt's queries the analyst can see there.
 */
export async function analystSeesInTrinoUi(browser: Browser, uiUrl: string, password: string, marker: string, screenshotName: string): Promise<{ ownQuery: boolean; dbtQueries: number }> {
    // The certificate is the stack's own CA, which the other tests verify with Node's TLS; Chromium is not given it.
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 } });
    try {
        const page = await context.newPage();
        await page.goto(uiUrl);
        await page.waitForURL(/\/ui\/login\.html/);
        await page.fill("#username", "analyst");
        await page.fill("#password", password);
        await page.click("#submit");
        await page.waitForURL(/\/ui\/$/);
        // The finished queries are listed once the overview's first refresh has loaded them.
        await page.locator("button", { hasText: "Finished" }).click();
        const ownQuery = await page
            .getByText(marker)
            .first()
            .waitFor({ timeout: 30_000 })
            .then(() => true)
            .catch(() => false);
        const dbtQueries = await page.getByText("dbt-trino").count();
        await screenshot(page, screenshotName);
        return { ownQuery, dbtQueries };
    } finally {
        await context.close();
    }
}
