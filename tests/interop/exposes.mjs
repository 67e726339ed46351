// Write the Zigbee2MQTT `bridge/devices` entries of a few common devices, with the exposes that
// zigbee-herdsman-converters itself defines for them, to the JSON file named by argv[2].
// Run with NODE_PATH at the folder where scripts/install-interop put the package.
import {createRequire} from "node:module";
import {readdirSync, writeFileSync} from "node:fs";
import {dirname, join} from "node:path";

const require = createRequire(join(process.env.NODE_PATH ?? ".", "index.js"));
const zhc = require("zigbee-herdsman-converters");
const root = dirname(require.resolve("zigbee-herdsman-converters/package.json"));

// model (as the device reports it, or a white label's) -> friendly name, ieee address, power
// source, as a bridge would list them
const WANTED = {
    WSDCGQ11LM: ["climate", "0x00158d0001a2b3c4", "Battery"],
    SML001: ["hall/motion", "0x0017880102030405", "Battery"],
    E2206: ["desk/plug", "0x842e14fffe0a0b0c", "Mains (single phase)"],
    "SRTS-A01": ["office/thermostat", "0x54ef441000112233", "Battery"],
    LCT015: ["living/bulb", "0x0017880109876543", "Mains (single phase)"],
};

const found = {};
const devices = join(root, "dist", "devices");
for (const file of readdirSync(devices).filter((f) => f.endsWith(".js"))) {
    const module = require(join(devices, file));
    for (const definition of module.definitions ?? []) {
        const names = [definition.model, ...(definition.zigbeeModel ?? [])];
        for (const label of definition.whiteLabel ?? []) names.push(label.model);
        for (const model of names.filter((n) => n in WANTED && !(n in found))) {
            const label = (definition.whiteLabel ?? []).find((l) => l.model === model);
            found[model] = {...zhc.prepareDefinition(definition), ...(label ?? {})};
        }
    }
}
const missing = Object.keys(WANTED).filter((model) => !(model in found));
if (missing.length) {
    console.error(`zigbee-herdsman-converters has no definition of ${missing.join(", ")}`);
    process.exit(1);
}
const entries = Object.entries(WANTED).map(([model, [name, ieee, power]]) => {
    const definition = found[model];
    const exposes =
        typeof definition.exposes === "function"
            ? definition.exposes({isDummyDevice: true}, {})
            : definition.exposes;
    return {
        friendly_name: name,
        ieee_address: ieee,
        type: power.startsWith("Mains") ? "Router" : "EndDevice",
        power_source: power,
        supported: true,
        definition: {
            model: definition.model,
            vendor: definition.vendor,
            description: definition.description,
            exposes: JSON.parse(JSON.stringify(exposes)),
        },
    };
});
const coordinator = {friendly_name: "Coordinator", ieee_address: "0x00124b0000000000", type: "Coordinator"};
const version = require("zigbee-herdsman-converters/package.json").version;
writeFileSync(process.argv[2], JSON.stringify({converters: version, devices: [coordinator, ...entries]}, null, 1));
