// Composes the subgraph SDL files named on the command line into a supergraph, as Hive
// Gateway does; prints {"errors": [...]} or {"supergraph": "..."} as JSON.
const fs = require("fs");
const path = require("path");
const { parse } = require("graphql");
const { composeServices, compositionHasErrors } = require("@theguild/federation-composition");

const services = process.argv.slice(2).map((file) => ({
  name: path.basename(file, ".graphql"),
  typeDefs: parse(fs.readFileSync(file, "utf8")),
  url: `http://${path.basename(file, ".graphql")}.invalid/graphql`,
}));
const result = composeServices(services);
if (compositionHasErrors(result)) {
  console.log(JSON.stringify({ errors: result.errors.map((e) => e.message) }));
  process.exit(1);
}
console.log(JSON.stringify({ supergraph: result.supergraphSdl, public: result.publicSdl }));
