import * as path from "path";
import { digestDirectory } from "../lib/digest";

/** The picture of the lineage graph in docs/lineage.md, taken by the browser test (DATAMESH_REFRESH_LINEAGE_PICTURE=1). */
export const LINEAGE_PICTURE = path.join(__dirname, "..", "docs", "lineage-graph.png");
/** The digest of the dbt models the picture shows, written beside it when it is taken. */
export const LINEAGE_PICTURE_DIGEST = path.join(__dirname, "..", "docs", "lineage-graph.digest");

/** What the lineage depends on: the models and their properties, sources included. */
export function lineagePictureDigest(): string {
    return digestDirectory(path.join(__dirname, "..", "dbt", "models"));
}
