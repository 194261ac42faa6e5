// openapi-validate.js FILE: checks FILE against the OpenAPI 3.0 schema and its references
// (@apidevtools/swagger-parser, from tests/npm/package.json); prints "valid" or why not.
"use strict";
const SwaggerParser = require("@apidevtools/swagger-parser");

SwaggerParser.validate(process.argv[2]).then(
  () => console.log("valid"),
  (e) => {
    console.log(String(e.message).split("\n").slice(0, 3).join(" ").slice(0, 300));
    process.exit(1);
  },
);
