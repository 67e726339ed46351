// An OPC-UA server from another stack (node-opcua) for the connector's interop tests.
//   node opcua_server.mjs PORT PKI_DIR accept|reject
// It serves namespace urn:sentio:interop with a Boiler object: Setpoint (a Double that never
// changes), Counter (an Int32 that counts up every 200 ms), Running (Boolean), Label (String),
// Profile (Double[3]); security None and Basic256Sha256 SignAndEncrypt. With `reject`, client
// certificates it does not know go to PKI_DIR/rejected until moved to PKI_DIR/trusted/certs.
// It prints "ready" when it listens, and shuts down cleanly on SIGTERM.
import {createRequire} from "node:module";
import {join} from "node:path";

const require = createRequire(join(process.env.NODE_PATH ?? ".", "index.js"));
const opcua = require("node-opcua");
const {DataType, MessageSecurityMode, OPCUACertificateManager, OPCUAServer, SecurityPolicy} = opcua;

const [port, pki, trust] = process.argv.slice(2);
const certificates = new OPCUACertificateManager({
    rootFolder: pki,
    automaticallyAcceptUnknownCertificate: trust === "accept",
});
await certificates.initialize();
const server = new OPCUAServer({
    port: Number(port),
    hostname: "127.0.0.1",
    resourcePath: "/interop",
    serverCertificateManager: certificates,
    securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
    securityModes: [MessageSecurityMode.None, MessageSecurityMode.SignAndEncrypt],
    allowAnonymous: true,
    serverInfo: {applicationUri: "urn:sentio:interop-server"},
});
await server.initialize();
const space = server.engine.addressSpace;
const ns = space.registerNamespace("urn:sentio:interop");
const boiler = ns.addObject({organizedBy: space.rootFolder.objects, browseName: "Boiler"});
const variable = (name, dataType, value, extra = {}) =>
    ns.addVariable({
        componentOf: boiler,
        browseName: name,
        nodeId: `s=Boiler.${name}`,
        dataType,
        value: {dataType: DataType[dataType], value, ...extra},
    });
variable("Setpoint", "Double", 21.5);
variable("Running", "Boolean", true);
variable("Label", "String", "boiler in hall 3");
variable("Profile", "Double", [1.5, 2.5, 3.5], {arrayType: opcua.VariantArrayType.Array});
const counter = variable("Counter", "Int32", 0);
let count = 0;
const timer = setInterval(() => {
    count += 1;
    counter.setValueFromSource({dataType: DataType.Int32, value: count});
}, 200);
await server.start();
console.log("ready");

const stop = async () => {
    clearInterval(timer);
    await server.shutdown(0);
    process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
