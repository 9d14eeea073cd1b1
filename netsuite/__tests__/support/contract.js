// The committed contract (netsuite/contract/, generated from certrotor's pydantic models) as ajv validators.
const fs = require('node:fs');
const path = require('node:path');
const Ajv2020 = require('ajv/dist/2020');
const addFormats = require('ajv-formats');

const CONTRACT = path.join(__dirname, '..', '..', 'contract');
const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);

function load(name) {
    return JSON.parse(fs.readFileSync(path.join(CONTRACT, name), 'utf8'));
}

const schemas = {};
for (const name of fs.readdirSync(CONTRACT).filter((n) => n.endsWith('.schema.json'))) {
    schemas[name.replace('.schema.json', '')] = load(name);
}
const validators = Object.fromEntries(Object.entries(schemas).map(([stem, schema]) => [stem, ajv.compile(schema)]));

/** Fields a value carries that the schema (of an object, or of its $defs item) does not name. */
function extraFields(value, schema) {
    if (!value || typeof value !== 'object' || !schema.properties) return [];
    const extras = Object.keys(value).filter((key) => !(key in schema.properties));
    for (const [key, property] of Object.entries(schema.properties)) {
        const items = property.items && property.items.$ref ? schemas_defs(schema, property.items.$ref) : null;
        if (items && Array.isArray(value[key])) value[key].forEach((item) => extras.push(...extraFields(item, items)));
        const ref = property.$ref ? schemas_defs(schema, property.$ref) : null;
        if (ref) extras.push(...extraFields(value[key], ref));
    }
    return extras;
}

function schemas_defs(schema, ref) {
    return schema.$defs[ref.replace('#/$defs/', '')];
}

/** Assert `value` is a valid `stem` answer: the schema holds and no field beyond it is sent. */
function expectContract(stem, value) {
    const validate = validators[stem];
    if (!validate) throw new Error(`no schema ${stem}`);
    const valid = validate(value);
    if (!valid) throw new Error(`${stem} violates the contract: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value, null, 2)}`);
    const extras = extraFields(value, schemas[stem]);
    if (extras.length) throw new Error(`${stem} carries fields outside the contract: ${extras.join(', ')}`);
    return value;
}

module.exports = { constants: load('constants.json'), expectContract, schemas };
