// Runs a TypeScript entry point in place (so __dirname stays right), transpiling on require with
// the project's pinned TypeScript. Used for scripts that are not tests, such as the benchmark.
const fs = require("fs");
const ts = require("typescript");
const { compilerOptions } = ts.parseConfigFileTextToJson("tsconfig.json", fs.readFileSync(require("path").join(__dirname, "..", "tsconfig.json"), "utf8")).config;
const options = ts.convertCompilerOptionsFromJson(compilerOptions, ".").options;
require.extensions[".ts"] = (module, file) => {
    module._compile(ts.transpileModule(fs.readFileSync(file, "utf8"), { compilerOptions: options, fileName: file }).outputText, file);
};
require(require("path").resolve(process.argv[2]));
