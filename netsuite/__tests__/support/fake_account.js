// An in-memory NetSuite account behind the N/ modules the scripts use: File Cabinet, certificate
// records, governance (every spending call is charged; going below zero fails as NetSuite does),
// and N/crypto hashing and certificate signing through node:crypto. Tests point jest.mock at `modules`.
const nodeCrypto = require('node:crypto');

class SuiteScriptError extends Error {
    constructor(name, message) {
        super(message);
        this.name = name;
        this.type = 'error.SuiteScriptError';
    }
}

const PRIVATE_FOLDER = { id: 42, path: '/SuiteScripts/certrotor/private' };
const CHARGES = {
    'file.load': 10,
    'File.save': 20,
    'file.delete': 20,
    findCertificates: 10,
    loadCertificate: 10,
    createCertificate: 10,
    deleteCertificate: 10,
    'Certificate.save': 10,
    createSigner: 10,
    'https.get': 10,
};
const LEVELS = ['NONE', 'VIEW', 'CREATE', 'EDIT', 'FULL'];

const state = {};

function reset({ usage = 5000, permission = 'FULL', fileReadable = false } = {}) {
    state.usage = usage;
    state.charges = [];
    state.permission = permission;
    state.fileReadable = fileReadable;
    state.files = new Map();
    state.nextFileId = 1000;
    state.records = new Map();
    state.deletedRecordIds = [];
    state.nextRecordId = 7;
    state.failures = {};
    state.logs = [];
    state.signingKeys = {};
    state.httpRequests = [];
    state.httpAnswer = { code: 200, body: 'OK' };
    state.parameters = {};
    addFile({ name: 'README.txt', folder: PRIVATE_FOLDER.id, contents: 'marker', fileType: 'PLAINTEXT' });
}

function charge(call) {
    const units = CHARGES[call];
    if (state.usage < units) {
        throw new SuiteScriptError('SSS_USAGE_LIMIT_EXCEEDED', `Script Execution Usage Limit Exceeded (${call})`);
    }
    state.usage -= units;
    state.charges.push(call);
}

function maybeFail(call) {
    const failure = state.failures[call];
    if (failure) {
        delete state.failures[call];
        throw new SuiteScriptError(failure.name, failure.message);
    }
}

function requireLevel(level) {
    if (LEVELS.indexOf(state.permission) < LEVELS.indexOf(level)) {
        throw new SuiteScriptError('INSUFFICIENT_PERMISSION', `Permission Violation: You need a higher level of the 'Certificate Access' permission.`);
    }
}

function pathOf(stored) {
    return stored.folder === PRIVATE_FOLDER.id ? `${PRIVATE_FOLDER.path}/${stored.name}` : `/folder${stored.folder}/${stored.name}`;
}

function addFile({ name, folder, contents, fileType }) {
    for (const [id, stored] of state.files) {
        if (stored.folder === folder && stored.name === name) state.files.delete(id);
    }
    const id = state.nextFileId;
    state.nextFileId += 1;
    state.files.set(id, { id, name, folder, contents, fileType });
    return id;
}

function fileObject(stored) {
    return {
        id: stored.id,
        name: stored.name,
        folder: stored.folder,
        fileType: stored.fileType,
        getContents: () => stored.contents,
    };
}

const file = {
    Type: { PLAINTEXT: 'PLAINTEXT', JSON: 'JSON', CERTIFICATE: 'CERTIFICATE' },
    create({ name, fileType, contents, folder }) {
        if (!name || !fileType || contents === undefined) throw new SuiteScriptError('SSS_MISSING_REQD_ARGUMENT', 'file.create');
        return {
            name,
            fileType,
            folder,
            getContents: () => contents,
            save() {
                charge('File.save');
                maybeFail('File.save');
                return addFile({ name, folder, contents, fileType });
            },
        };
    },
    load({ id }) {
        charge('file.load');
        maybeFail('file.load');
        const stored = typeof id === 'number' ? state.files.get(id) : Array.from(state.files.values()).find((f) => pathOf(f) === id);
        if (!stored) throw new SuiteScriptError('RCRD_DSNT_EXIST', `That record does not exist. path: ${id}`);
        return fileObject(stored);
    },
    delete({ id }) {
        charge('file.delete');
        maybeFail('file.delete');
        if (!state.files.delete(Number(id))) throw new SuiteScriptError('RCRD_DSNT_EXIST', `That record does not exist. id: ${id}`);
    },
};

function certificateObject(record) {
    const object = {
        scriptId: record ? record.scriptId : undefined,
        name: record ? record.name : undefined,
        file: record
            ? {
                name: record.fileName,
                getContents() {
                    if (!state.fileReadable) throw new SuiteScriptError('INSUFFICIENT_PERMISSION', 'Certificates cannot be downloaded.');
                    return record.contents;
                },
            }
            : undefined,
        password: undefined,
    };
    return object;
}

function fileInCabinet(candidate) {
    const stored = candidate && state.files.get(candidate.id);
    if (!stored) throw new SuiteScriptError('INVALID_FILE', 'The certificate file must be saved in the File Cabinet.');
    if (!/-----BEGIN CERTIFICATE-----/.test(stored.contents) && stored.fileType !== 'CERTIFICATE') {
        throw new SuiteScriptError('INVALID_CERTIFICATE_FILE', 'The file is not a certificate of type PFX, PEM or P12.');
    }
    return stored;
}

const certificateControl = {
    findCertificates() {
        charge('findCertificates');
        requireLevel('VIEW');
        maybeFail('findCertificates');
        return Array.from(state.records.values()).map((r) => ({ id: r.scriptId, internalId: String(r.internalId), name: r.name, type: 'PEM' }));
    },
    loadCertificate({ scriptId }) {
        charge('loadCertificate');
        requireLevel('VIEW');
        maybeFail('loadCertificate');
        const record = state.records.get(String(scriptId).toLowerCase());
        if (!record) throw new SuiteScriptError('CERTIFICATE_NOT_FOUND', `Certificate with id ${scriptId} was not found.`);
        const object = certificateObject(record);
        object.save = () => {
            charge('Certificate.save');
            requireLevel('EDIT');
            maybeFail('Certificate.save');
            const stored = fileInCabinet(object.file);
            Object.assign(record, { contents: stored.contents, fileName: stored.name, password: object.password, name: object.name });
            return { scriptId: record.scriptId };
        };
        return object;
    },
    createCertificate({ file: candidate, password, scriptId, name }) {
        charge('createCertificate');
        requireLevel('CREATE');
        maybeFail('createCertificate');
        const object = certificateObject(null);
        Object.assign(object, { file: candidate, password, name });
        object.save = () => {
            charge('Certificate.save');
            maybeFail('Certificate.save');
            const stored = fileInCabinet(object.file);
            const full = `custcertificate${scriptId}`;
            if (state.records.has(full)) throw new SuiteScriptError('DUPLICATE_SCRIPT_ID', `Script ID ${full} is in use.`);
            state.records.set(full, {
                scriptId: full, name: object.name, internalId: state.nextRecordId, contents: stored.contents, fileName: stored.name, password: object.password,
            });
            state.nextRecordId += 1;
            return { scriptId: full };
        };
        return object;
    },
    deleteCertificate({ scriptId }) {
        charge('deleteCertificate');
        requireLevel('FULL');
        maybeFail('deleteCertificate');
        const key = String(scriptId).toLowerCase();
        if (!state.records.delete(key)) throw new SuiteScriptError('CERTIFICATE_NOT_FOUND', `Certificate with id ${scriptId} was not found.`);
        state.deletedRecordIds.push(key);
        return key;
    },
};

const encode = { Encoding: { UTF_8: 'UTF_8', BASE_64: 'BASE_64', HEX: 'HEX' } };
const NODE_ENCODINGS = { UTF_8: 'utf8', BASE_64: 'base64', HEX: 'hex' };

const crypto = {
    HashAlg: { SHA256: 'SHA256' },
    createHash({ algorithm }) {
        const hash = nodeCrypto.createHash(algorithm.toLowerCase().replace('sha', 'sha'));
        return {
            update({ input, inputEncoding }) { hash.update(Buffer.from(input, NODE_ENCODINGS[inputEncoding || 'UTF_8'])); },
            digest({ outputEncoding }) { return hash.digest(NODE_ENCODINGS[outputEncoding || 'HEX']).toUpperCase(); },
        };
    },
};

/** N/crypto/certificate: signs with the PEM key given to `state.signingKeys[certId]` (DER ECDSA unless raw is asked). */
const cryptoCertificate = {
    HashAlg: { SHA256: 'SHA256', SHA384: 'SHA384', SHA512: 'SHA512' },
    createSigner({ certId, algorithm }) {
        charge('createSigner');
        const keyPem = state.signingKeys[certId];
        if (!keyPem) throw new SuiteScriptError('CERTIFICATE_NOT_FOUND', `Certificate ${certId} was not found.`);
        const chunks = [];
        return {
            update({ input, inputEncoding }) { chunks.push(Buffer.from(input, NODE_ENCODINGS[inputEncoding || 'UTF_8'])); },
            sign({ outputEncoding, useRawFormatForECDSA }) {
                const key = nodeCrypto.createPrivateKey(keyPem);
                const signature = nodeCrypto.sign(algorithm.toLowerCase(), Buffer.concat(chunks), {
                    key,
                    dsaEncoding: useRawFormatForECDSA ? 'ieee-p1363' : 'der',
                });
                return signature.toString(NODE_ENCODINGS[outputEncoding || 'BASE_64']);
            },
        };
    },
};

const https = {
    get({ url, headers }) {
        charge('https.get');
        state.httpRequests.push({ url, headers });
        return { code: state.httpAnswer.code, body: state.httpAnswer.body, headers: {} };
    },
};

const runtime = {
    accountId: 'TSTDRV1234567',
    getCurrentScript: () => ({
        getRemainingUsage: () => state.usage,
        getParameter: ({ name }) => (name in state.parameters ? state.parameters[name] : null),
    }),
    getCurrentUser: () => ({ id: -5 }),
};

const error = {
    create({ name, message }) { return new SuiteScriptError(name, message); },
    SuiteScriptError,
};

const log = {
    debug: (entry) => state.logs.push({ level: 'debug', ...entry }),
    audit: (entry) => state.logs.push({ level: 'audit', ...entry }),
    error: (entry) => state.logs.push({ level: 'error', ...entry }),
    emergency: (entry) => state.logs.push({ level: 'emergency', ...entry }),
};

/** What NetSuite answers when a RESTlet entry point throws: HTTP 400 and {"error": {code, message}}. */
function restletErrorBody(thrown) {
    return { error: { code: thrown.name, message: thrown.message } };
}

reset();

module.exports = {
    PRIVATE_FOLDER,
    SuiteScriptError,
    modules: { certificateControl, crypto, cryptoCertificate, encode, error, file, https, log, runtime },
    reset,
    restletErrorBody,
    state,
};
