import * as fs from "fs";
import * as path from "path";
import type { Browser } from "playwright-core";
import { readDomainFile } from "../../lib/dataset";
import { jaffleTable } from "../reference";
import { queryTrino } from "../../lib/trinoQuery";
import { LINEAGE_PICTURE, LINEAGE_PICTURE_DIGEST, lineagePictureDigest } from "../lineagePicture";
import { analystSeesInTrinoUi, DIM_CUSTOMERS_UPSTREAM, launchChromium, lineageUpstream, screenshot } from "./browser";
import { allSecrets, createMesh, MeshUnderTest, REPO_DIR, TEST_TRINO_JVM_OPTIONS } from "./harness";

jest.setTimeout(900_000);

/*
 * What a person sees of the mesh, in a real browser: the dbt docs site the stack serves, with the
 * lineage from the three domains to dim_customers, and Trino's own web UI, logged in as the
 * analyst. Debian's Chromium, driven by playwright-core; both are installed by scripts/setup.sh.
 */

let mesh: MeshUnderTest;
let browser: Browser;

beforeAll(async () => {
    browser = await launchChromium();
    // The one suite whose Trino runs the stack's JVM flags alone, as a user's does.
    mesh = await createMesh("lineage", { trinoJvmOptions: "[]" });
    await mesh.stack.up();
});

afterAll(async () => {
    await browser?.close();
    await mesh?.remove();
});

describe("Trino's JVM", () => {
    it("runs the stack's own flags alone when datamesh:trinoJvmOptions is empty", async () => {
        const { pid } = (await mesh.resourceOutputs())["trino-server"];
        const commandLine = fs.readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0");
        expect(commandLine).toContain("-XX:+UseG1GC");
        expect(commandLine).not.toEqual(expect.arrayContaining(TEST_TRINO_JVM_OPTIONS));
    });
});

describe("the dbt docs site", () => {
    it("is served at docsUrl, and shows dim_customers fed by the customers, orders and payments sources", async () => {
        const docsUrl: string = (await mesh.stack.outputs()).docsUrl.value;
        expect(docsUrl).toBe(`http://127.0.0.1:${mesh.trinoPort + 2}/`);
        const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
        expect(await lineageUpstream(page, docsUrl, "dim_customers")).toEqual(expect.arrayContaining(DIM_CUSTOMERS_UPSTREAM));
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

    it("is generated from the published run's own parse of the project, which dbt takes up unchanged", async () => {
        const log = fs.readFileSync(path.join(mesh.stateDir, "docs-site", "logs", "dbt.log"), "utf8");
        const generation = log.slice(log.lastIndexOf("Running with dbt="));
        expect(generation).toContain("Nothing changed, skipping partial parsing.");
        expect(generation).not.toContain("Unable to do partial parsing");
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
        const listed = await analystSeesInTrinoUi(browser, uiUrl, analyst.password!, marker, "trino-ui.png");
        expect(listed).toEqual({ ownQuery: true, dbtQueries: 0 });
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
