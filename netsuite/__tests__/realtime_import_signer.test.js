// The signed real-time import sender: the exact query string, the signature over it, the request.
jest.mock('N/crypto/certificate', () => require('./support/fake_account').modules.cryptoCertificate);
jest.mock('N/encode', () => require('./support/fake_account').modules.encode);
jest.mock('N/https', () => require('./support/fake_account').modules.https);
jest.mock('N/log', () => require('./support/fake_account').modules.log);
jest.mock('N/runtime', () => require('./support/fake_account').modules.runtime);

const nodeCrypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const account = require('./support/fake_account');
const { constants, expectContract } = require('./support/contract');
const signer = require('SuiteScripts/certrotor/realtime_import_signer');
const userEvent = require('SuiteScripts/certrotor/realtime_import_user_event');

const fixture = (name) => fs.readFileSync(path.join(__dirname, 'fixtures', name), 'utf8');
const keyOf = (name) => fixture(name).slice(fixture(name).indexOf('-----BEGIN PRIVATE KEY-----'));
const certificateOf = (name) => nodeCrypto.createPublicKey(fixture(name).slice(0, fixture(name).indexOf('-----BEGIN PRIVATE KEY-----')));
const FIELDS = { action: 'synchronize', db_id: 'ACME Corp/1', record_type: 'customer', ns_id: '1001', netsuite_user_id: '-5', timestamp: '1767225600' };

function queryParams(query) {
    return Object.fromEntries(query.split('&').map((pair) => pair.split('=')).map(([k, v]) => [k, decodeURIComponent(v)]));
}

beforeEach(() => {
    account.reset();
    account.state.signingKeys.custcertificate_oa_realtime = keyOf('ec_p256.pem');
    account.state.signingKeys.custcertificate_rsa = keyOf('rsa3072.pem');
});

describe('canonical query', () => {
    test('is the signed fields in the contract\'s order, percent-encoded like Python\'s quote(safe="")', () => {
        expect(signer.SIGNED_FIELDS).toEqual(constants.signed_fields);
        expect(signer.canonicalQuery(FIELDS)).toBe(
            'action=synchronize&db_id=ACME%20Corp%2F1&record_type=customer&ns_id=1001&netsuite_user_id=-5&timestamp=1767225600',
        );
    });

    test('encodes every reserved character and non-ASCII text as UTF-8 bytes', () => {
        expect(signer.quote("a+b=c&d!'()*~._-ü")).toBe('a%2Bb%3Dc%26d%21%27%28%29%2A~._-%C3%BC');
    });

    test('refuses fields that would not be signed', () => {
        const { timestamp, ...rest } = FIELDS;
        expect(() => signer.canonicalQuery(rest)).toThrow('missing signed field(s): timestamp');
    });

    test('import fields default to synchronize and now', () => {
        const fields = signer.importFields({ dbId: 1, recordType: 'customer', nsId: 2, netsuiteUserId: -5 });
        expect(fields.action).toBe('synchronize');
        expect(Math.abs(Number(fields.timestamp) - Date.now() / 1000)).toBeLessThan(120);
    });
});

describe('signature', () => {
    test('an ECDSA signature is DER (the contract\'s encoding) and verifies over the exact query bytes', () => {
        expect(signer.ECDSA_SIGNATURE_ENCODING).toBe(constants.ecdsa_signature_encoding);
        const query = signer.canonicalQuery(FIELDS);
        const signature = Buffer.from(signer.signQuery(query, 'custcertificate_oa_realtime'), 'base64');
        expect(signature[0]).toBe(0x30);
        expect(nodeCrypto.verify('sha256', Buffer.from(query), { key: certificateOf('ec_p256.pem'), dsaEncoding: 'der' }, signature)).toBe(true);
    });

    test('an RSA signature is PKCS#1 v1.5 SHA-256', () => {
        const query = signer.canonicalQuery(FIELDS);
        const signature = Buffer.from(signer.signQuery(query, 'custcertificate_rsa'), 'base64');
        expect(nodeCrypto.verify('sha256', Buffer.from(query), certificateOf('rsa3072.pem'), signature)).toBe(true);
    });

    test('the signed query ends with the percent-encoded signature and matches the contract', () => {
        const query = signer.signedQuery(FIELDS, 'custcertificate_rsa');
        const [signed, signature] = query.split(`&${constants.signature_param}=`);
        expect(signed).toBe(signer.canonicalQuery(FIELDS));
        expect(signature).not.toMatch(/[+/=]/);
        expectContract('signed_import_request', queryParams(query));
    });

    test('signing checks the governance units first', () => {
        account.state.usage = 5;
        expect(() => signer.signQuery('x', 'custcertificate_rsa')).toThrow('5 governance units left; certificate.createSigner needs 10.');
        expect(account.state.charges).toEqual([]);
    });
});

describe('sending', () => {
    test('GETs <receiver>/netsuite.pl?<signed query> once and reports the answer', () => {
        account.state.httpAnswer = { code: 200, body: 'accepted' };
        const outcome = signer.sendImport({ receiverUrl: 'https://openair.example/', certId: 'custcertificate_oa_realtime', fields: FIELDS });
        expect(account.state.httpRequests).toHaveLength(1);
        expect(outcome.url).toBe(account.state.httpRequests[0].url);
        expect(outcome.url.startsWith(`https://openair.example${constants.import_path}?${signer.canonicalQuery(FIELDS)}&signature=`)).toBe(true);
        expect(outcome).toMatchObject({ code: 200, body: 'accepted' });
    });

    test('the sample User Event script signs the saved record with the configured certificate record', () => {
        account.state.parameters = { custscript_certrotor_receiver_url: 'https://openair.example', custscript_certrotor_db_id: 'db-7' };
        userEvent.afterSubmit({ type: 'create', UserEventType: { DELETE: 'delete' }, newRecord: { type: 'customer', id: 55 } });
        const params = queryParams(account.state.httpRequests[0].url.split('?')[1]);
        expect(params).toMatchObject({ action: 'synchronize', db_id: 'db-7', record_type: 'customer', ns_id: '55', netsuite_user_id: '-5' });
        expect(account.state.logs.map((l) => l.title)).toContain('certrotor: import accepted');
    });

    test('the sample User Event script logs, and does not throw, when it cannot sign', () => {
        account.state.parameters = { custscript_certrotor_receiver_url: 'https://openair.example', custscript_certrotor_certificate_record: 'custcertificate_missing' };
        userEvent.afterSubmit({ type: 'edit', UserEventType: { DELETE: 'delete' }, newRecord: { type: 'customer', id: 55 } });
        expect(account.state.httpRequests).toHaveLength(0);
        expect(account.state.logs.map((l) => l.title)).toContain('certrotor: import not sent');
    });

    test('the sample User Event script sends nothing for a deletion or without a receiver', () => {
        userEvent.afterSubmit({ type: 'delete', UserEventType: { DELETE: 'delete' }, newRecord: { type: 'customer', id: 55 } });
        userEvent.afterSubmit({ type: 'create', UserEventType: { DELETE: 'delete' }, newRecord: { type: 'customer', id: 55 } });
        expect(account.state.httpRequests).toHaveLength(0);
        expect(account.state.logs.map((l) => l.title)).toContain('certrotor: no receiver');
    });
});
