import * as fs from "fs";
import { LINEAGE_PICTURE, LINEAGE_PICTURE_DIGEST, lineagePictureDigest } from "../lineagePicture";

describe("the picture of the lineage in docs/lineage.md", () => {
    it("was taken of the models as they are: a model edit needs a new picture (DATAMESH_REFRESH_LINEAGE_PICTURE=1 with the browser test)", () => {
        expect(fs.existsSync(LINEAGE_PICTURE)).toBe(true);
        expect(fs.readFileSync(LINEAGE_PICTURE_DIGEST, "utf8").trim()).toBe(lineagePictureDigest());
    });
});
