// Run the Khronos glTF validator on GLB files and print one JSON report summary per file.
// usage: node gltf_validate.mjs <dir holding node_modules/gltf-validator> file.glb...
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const [validatorDir, ...files] = process.argv.slice(2);
const require = createRequire(join(validatorDir, "noop.js"));
const validator = require("gltf-validator");

const reports = [];
for (const file of files) {
  const report = await validator.validateBytes(new Uint8Array(readFileSync(file)), { uri: file, maxIssues: 100 });
  reports.push({
    file,
    numErrors: report.issues.numErrors,
    numWarnings: report.issues.numWarnings,
    numInfos: report.issues.numInfos,
    messages: report.issues.messages,
  });
}
console.log(JSON.stringify(reports));
