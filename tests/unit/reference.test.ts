import * as path from "path";
import { CANONICAL_DATA_DIR } from "../../lib/dataset";
import { EXPECTED_DIR, readTextTable, referenceInsights } from "../reference";

describe("the reference model of the insights", () => {
    const reference = referenceInsights(CANONICAL_DATA_DIR);

    it.each(["dim_customers", "fct_orders"] as const)("reproduces the canonical expected %s row by row", table => {
        const expected = readTextTable(path.join(EXPECTED_DIR, `${table}.csv`));
        expect(reference[table].header).toEqual(expected.header);
        expect(reference[table].rows).toEqual(expected.rows);
    });
});
