#!/usr/bin/env node
// Runs realtime_import_signer.js under plain Node, as NetSuite would run it, with N/crypto/certificate
// signing through node:crypto with a test key and N/https recording instead of sending. For the
// cross-language test (tests/netsuite/test_signer_interop.py): JSON in on stdin, JSON out on stdout.
//   stdin:  {"key_pem": "...", "cert_id": "custcertificate_x", "receiver_url": "...", "fields": {...}}
//   stdout: {"url": "<receiver>/netsuite.pl?<signed query>", "query": "<signed query>"}
'use strict';

const nodeCrypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const SIGNER = path.join(__dirname, '..', 'src', 'FileCabinet', 'SuiteScripts', 'certrotor', 'realtime_import_signer.js');
const ENCODINGS = { UTF_8: 'utf8', BASE_64: 'base64', HEX: 'hex' };

function netsuiteModules(keys, sent) {
    return {
        'N/encode': { Encoding: { UTF_8: 'UTF_8', BASE_64: 'BASE_64', HEX: 'HEX' } },
        'N/runtime': { getCurrentScript: () => ({ getRemainingUsage: () => 1000 }) },
        'N/https': {
            get({ url }) {
                sent.push(url);
                return { code: 200, body: '' };
            },
        },
        'N/crypto/certificate': {
            HashAlg: { SHA256: 'SHA256', SHA384: 'SHA384', SHA512: 'SHA512' },
            createSigner({ certId, algorithm }) {
                if (!keys[certId]) throw Object.assign(new Error(`Certificate ${certId} was not found.`), { name: 'CERTIFICATE_NOT_FOUND' });
                const chunks = [];
                return {
                    update({ input, inputEncoding }) {
                        chunks.push(Buffer.from(input, ENCODINGS[inputEncoding || 'UTF_8']));
                    },
                    sign({ outputEncoding, useRawFormatForECDSA }) {
                        const key = nodeCrypto.createPrivateKey(keys[certId]);
                        const dsaEncoding = useRawFormatForECDSA ? 'ieee-p1363' : 'der';
                        return nodeCrypto.sign(algorithm.toLowerCase(), Buffer.concat(chunks), { key, dsaEncoding })
                            .toString(ENCODINGS[outputEncoding || 'BASE_64']);
                    },
                };
            },
        },
    };
}

/** Evaluate an AMD SuiteScript module with the given N/ modules; its exports. */
function loadAmd(file, modules) {
    let exported;
    const define = (dependencies, factory) => {
        exported = factory(...dependencies.map((name) => {
            if (!(name in modules)) throw new Error(`${path.basename(file)} needs ${name}, which this runner does not provide`);
            return modules[name];
        }));
    };
    vm.runInNewContext(fs.readFileSync(file, 'utf8'), { define, Date, Math, String, Number, Error }, { filename: file });
    return exported;
}

function main() {
    const request = JSON.parse(fs.readFileSync(0, 'utf8'));
    const sent = [];
    const signer = loadAmd(SIGNER, netsuiteModules({ [request.cert_id]: request.key_pem }, sent));
    const outcome = signer.sendImport({ receiverUrl: request.receiver_url, certId: request.cert_id, fields: request.fields });
    if (sent.length !== 1 || sent[0] !== outcome.url) throw new Error('the signer did not send exactly one request');
    process.stdout.write(`${JSON.stringify({ url: outcome.url, query: outcome.url.split('?')[1] })}\n`);
}

main();
