// act copies only this folder: the shared code is found through DRILLKIT_ACT_STUBS (see ../stub.js)
process.argv[2] = "cache-save";
require(require("path").join(process.env.DRILLKIT_ACT_STUBS || ".", "stub.js"));
