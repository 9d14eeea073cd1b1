// The certificate records RESTlet against an in-memory account: every entry point and refusal, the
// temporary file deleted whatever happens, governance checked before spending, answers per the contract.
jest.mock('N/certificateControl', () => require('./support/fake_account').modules.certificateControl);
jest.mock('N/crypto', () => require('./support/fake_account').modules.crypto);
jest.mock('N/encode', () => require('./support/fake_account').modules.encode);
jest.mock('N/error', () => require('./support/fake_account').modules.error);
jest.mock('N/file', () => require('./support/fake_account').modules.file);
jest.mock('N/log', () => require('./support/fake_account').modules.log);
jest.mock('N/runtime', () => require('./support/fake_account').modules.runtime);

const fs = require('node:fs');
const path = require('node:path');
const account = require('./support/fake_account');
const { constants, expectContract } = require('./support/contract');
const restlet = require('SuiteScripts/certrotor/certificates_restlet');

const FIXTURES = path.join(__dirname, 'fixtures');
const fixture = (name) => fs.readFileSync(path.join(FIXTURES, name), 'utf8');
const expected = JSON.parse(fixture('expected.json'));
const ANSWER_SCHEMAS = { get: null, post: 'certificate_record_info', put: 'certificate_record_info', delete: 'record_deleted' };

/** Call an entry point as NetSuite does; every answer, success or error, is checked against the contract. */
function call(method, argument) {
    try {
        const body = restlet[method](argument);
        const stem = ANSWER_SCHEMAS[method] || ('records' in body ? 'certificate_record_list' : 'certificate_record_info');
        return { ok: true, body: expectContract(stem, body) };
    } catch (thrown) {
        if (!(thrown instanceof account.SuiteScriptError)) throw thrown;
        return { ok: false, body: expectContract('restlet_error', account.restletErrorBody(thrown)) };
    }
}

function refusal(method, argument) {
    const outcome = call(method, argument);
    expect(outcome.ok).toBe(false);
    return outcome.body.error;
}

function privateFiles() {
    return Array.from(account.state.files.values()).filter((f) => f.folder === account.PRIVATE_FOLDER.id).map((f) => f.name).sort();
}

function leftoverUploads() {
    return privateFiles().filter((name) => name.startsWith('certrotor-upload-'));
}

/** A request body as NetSuite hands it over: parsed JSON (an `undefined` field is absent). */
function upload(overrides = {}) {
    return JSON.parse(JSON.stringify({ script_id: '_oa_realtime', name: 'OpenAir real-time', file_name: 'certrotor-record.pem', file_format: 'pem', file_content: fixture('rsa3072.pem'), ...overrides }));
}

function expectFacts(info, fixtureName) {
    const facts = expected[fixtureName];
    for (const key of ['certificate', 'fingerprint_sha256', 'subject', 'issuer', 'key_type', 'key_size', 'not_before', 'not_after']) {
        expect(info[key]).toEqual(facts[key]);
    }
}

/** A record made outside certrotor (the NetSuite UI, the OpenAir bundle). */
function recordFromUi(scriptId, pemFixture, name = 'From the UI') {
    account.state.records.set(scriptId, { scriptId, name, internalId: 3, contents: fixture(pemFixture), fileName: pemFixture, password: '' });
}

beforeEach(() => account.reset());

describe('post (create)', () => {
    test('creates the record and answers its public facts, as the emulator does', () => {
        const { body } = call('post', upload());
        expect(body.script_id).toBe('custcertificate_oa_realtime');
        expect(body.name).toBe('OpenAir real-time');
        expect(body.file_name).toBe('certrotor-record.pem');
        expectFacts(body, 'rsa3072.pem');
        expect(body.is_placeholder).toBe(false);
        expect(body.valid).toBe(true);
        expect(body.certificate).not.toMatch(/PRIVATE KEY/);
        expect(account.state.records.get('custcertificate_oa_realtime').contents).toBe(fixture('rsa3072.pem'));
    });

    test('the uploaded file is written to the private folder, used, and deleted', () => {
        call('post', upload());
        expect(account.state.charges.filter((c) => c === 'File.save').length).toBe(2);
        expect(leftoverUploads()).toEqual([]);
        expect(privateFiles()).toEqual(['README.txt', 'custcertificate_oa_realtime.public.json']);
        expect(fs.readFileSync(path.join(FIXTURES, 'rsa3072.pem'), 'utf8')).toMatch(/PRIVATE KEY/);
        expect(Array.from(account.state.files.values()).some((f) => /PRIVATE KEY/.test(f.contents))).toBe(false);
    });

    test('the placeholder is reported as such', () => {
        const { body } = call('post', upload({ file_content: fixture('openair-certificate.pem'), file_name: constants.placeholder_file_name }));
        expect(body.is_placeholder).toBe(true);
        expect(body.valid).toBe(false);
        expect(body.fingerprint_sha256).toBe(constants.placeholder_fingerprint_sha256);
    });

    test('an EC P-384 file is described like certrotor describes it', () => {
        expectFacts(call('post', upload({ file_content: fixture('ec_p384.pem') })).body, 'ec_p384.pem');
    });

    test('a PKCS#12 file is created with its password and described from its certificate', () => {
        const { body } = call('post', upload({ file_format: 'pkcs12', file_name: 'r.p12', file_content: fixture('rsa3072.p12.b64').trim(), password: 'fixture-password', certificate: expected['rsa3072.pem'].certificate }));
        expect(body.file_format).toBe('pkcs12');
        expectFacts(body, 'rsa3072.pem');
        expect(account.state.records.get('custcertificate_oa_realtime').password).toBe('fixture-password');
        expect(leftoverUploads()).toEqual([]);
    });

    test('an existing record is refused with the emulator\'s text, and nothing is written', () => {
        recordFromUi('custcertificate_oa_realtime', 'ec_p256.pem');
        expect(refusal('post', upload())).toEqual({ code: 'INVALID_CONTENT', message: 'Certificate "custcertificate_oa_realtime" already exists.' });
        expect(privateFiles()).toEqual(['README.txt']);
    });

    test.each([
        [upload({ name: undefined }), 'A new certificate record needs a name.'],
        [upload({ name: '   ' }), 'A new certificate record needs a name.'],
        [upload({ script_id: 'bad id!' }), "Invalid certificate record ID 'bad id!'."],
        [upload({ script_id: `_${'x'.repeat(40)}` }), `Invalid certificate record ID '_${'x'.repeat(40)}'.`],
        ['not json', 'The request body is not valid JSON; send Content-Type: application/json.'],
        ['[1]', 'The request body must be a JSON object.'],
        [{ name: 'n' }, 'Invalid request: script_id: Field required; file_content: Field required.'],
        [upload({ file_format: 'der' }), "Invalid request: file_format: Input should be 'pem' or 'pkcs12'."],
        [upload({ file_content: '' }), 'Invalid request: file_content: String should have at least 1 character.'],
        [upload({ extra: 1 }), 'Invalid request: extra: Extra inputs are not permitted.'],
        [upload({ name: 5 }), 'Invalid request: name: Input should be a valid string.'],
    ])('bad input is refused as INVALID_CONTENT: %#', (body, message) => {
        expect(refusal('post', body)).toEqual({ code: 'INVALID_CONTENT', message });
        expect(account.state.records.size).toBe(0);
        expect(privateFiles()).toEqual(['README.txt']);
        expect(account.state.charges).toEqual([]);
    });

    test.each([
        ['no certificate', expected['rsa3072.pem'].certificate.replace(/CERTIFICATE/g, 'NOTHING'), 'The file holds no readable PEM certificate (-----BEGIN CERTIFICATE-----).'],
        ['no key', expected['rsa3072.pem'].certificate, 'The file holds no private key; a certificate record needs the key NetSuite signs with (PEM with the certificate and its key, or PKCS#12).'],
        ['two certificates', expected['ec_p256.pem'].certificate + fixture('rsa3072.pem'), 'The PEM file must hold exactly one certificate and one private key.'],
        ['weak RSA', fixture('rsa1024_weak.pem'), 'RSA keys of 1024 bits are too weak; use at least 2048.'],
        ['secp256k1', fixture('ec_secp256k1.pem'), 'The elliptic curve secp256k1 is not supported; use P-256, P-384 or P-521.'],
        ['Ed25519', fixture('ed25519.pem'), 'Unsupported private key type Ed25519PrivateKey; use RSA or EC.'],
    ])('a bad file (%s) is refused as INVALID_CERTIFICATE before NetSuite sees it', (_label, content, message) => {
        expect(refusal('post', upload({ file_content: content }))).toEqual({ code: 'INVALID_CERTIFICATE', message });
        expect(account.state.charges).toEqual([]);
    });

    test('a PKCS#12 upload without its certificate, or not base64, is refused', () => {
        expect(refusal('post', upload({ file_format: 'pkcs12', file_content: 'not base64!' }))).toEqual({ code: 'INVALID_CERTIFICATE', message: 'A PKCS#12 file_content must be base64 text.' });
        expect(refusal('post', upload({ file_format: 'pkcs12', file_content: fixture('rsa3072.p12.b64').trim() })).code).toBe('INVALID_CONTENT');
    });

    test.each(['createCertificate', 'Certificate.save'])('NetSuite refusing %s keeps its text, and the temporary file is deleted', (step) => {
        account.state.failures[step] = { name: 'INVALID_PASSWORD', message: 'The certificate password is incorrect.' };
        expect(refusal('post', upload())).toEqual({ code: 'INVALID_CERTIFICATE', message: 'NetSuite refused the certificate record: INVALID_PASSWORD: The certificate password is incorrect.' });
        expect(leftoverUploads()).toEqual([]);
        expect(account.state.records.size).toBe(0);
    });

    test('a role without Certificate Access (Create) is told which permission it lacks; the temporary file is deleted', () => {
        account.state.permission = 'NONE';
        const error = refusal('post', upload());
        expect(error.code).toBe('INSUFFICIENT_PERMISSION');
        expect(error.message).toMatch(/lacks the permission 'Certificate Access' at level Create/);
        expect(leftoverUploads()).toEqual([]);
    });

    test('a role that may view but not create is refused at createCertificate; the temporary file is deleted', () => {
        account.state.permission = 'VIEW';
        expect(refusal('post', upload()).message).toMatch(/'Certificate Access' at level Create/);
        expect(account.state.charges).toContain('File.save');
        expect(leftoverUploads()).toEqual([]);
    });
});

describe('put (replace the file in place)', () => {
    test('replaces the file of the same record (same ID, same internal ID), keeps its creation date', () => {
        const created = call('post', upload({ file_content: fixture('ec_p256.pem') })).body;
        const internalId = account.state.records.get('custcertificate_oa_realtime').internalId;
        const { body } = call('put', { script_id: 'custcertificate_oa_realtime', file_content: fixture('rsa3072.pem'), file_name: 'certrotor-record.pem' });
        expectFacts(body, 'rsa3072.pem');
        expect(body.date_created).toBe(created.date_created);
        expect(body.name).toBe('OpenAir real-time');
        const record = account.state.records.get('custcertificate_oa_realtime');
        expect(record.internalId).toBe(internalId);
        expect(record.contents).toBe(fixture('rsa3072.pem'));
        expect(account.state.deletedRecordIds).toEqual([]);
        expect(leftoverUploads()).toEqual([]);
    });

    test('replaces the file of a record made in the UI (e.g. the bundle\'s placeholder)', () => {
        recordFromUi('custcertificate_oa_realtime', 'openair-certificate.pem', 'OpenAir real-time');
        const { body } = call('put', upload({ name: undefined }));
        expect(body.is_placeholder).toBe(false);
        expect(account.state.records.get('custcertificate_oa_realtime').password).toBe('');
    });

    test('a missing record gives seed 004\'s text', () => {
        expect(refusal('put', upload({ name: undefined }))).toEqual({ code: 'NONEXISTENT_ID', message: 'Certificate "custcertificate_oa_realtime" not found' });
        expect(privateFiles()).toEqual(['README.txt']);
    });

    test('a role with Certificate Access at View only is told to grant Edit; the temporary file is deleted', () => {
        recordFromUi('custcertificate_oa_realtime', 'openair-certificate.pem');
        account.state.permission = 'VIEW';
        const error = refusal('put', upload({ name: undefined }));
        expect(error.code).toBe('INSUFFICIENT_PERMISSION');
        expect(error.message).toMatch(/'Certificate Access' at level Edit.*Create or Edit to replace files, Full to delete/);
        expect(leftoverUploads()).toEqual([]);
        expect(account.state.records.get('custcertificate_oa_realtime').contents).toBe(fixture('openair-certificate.pem'));
    });

    test('NetSuite refusing the save keeps its text; the temporary file is deleted', () => {
        recordFromUi('custcertificate_oa_realtime', 'openair-certificate.pem');
        account.state.failures['Certificate.save'] = { name: 'INVALID_CERTIFICATE_FILE', message: 'Bad file.' };
        expect(refusal('put', upload({ name: undefined })).message).toBe('NetSuite refused the certificate record: INVALID_CERTIFICATE_FILE: Bad file.');
        expect(leftoverUploads()).toEqual([]);
    });

    test('a failure loading the saved temporary file still deletes it', () => {
        recordFromUi('custcertificate_oa_realtime', 'openair-certificate.pem');
        const loads = [];
        const realLoad = account.modules.file.load;
        account.modules.file.load = (options) => {
            loads.push(options.id);
            if (typeof options.id === 'number') throw new account.SuiteScriptError('UNEXPECTED_ERROR', 'File Cabinet unavailable');
            return realLoad(options);
        };
        try {
            expect(refusal('put', upload({ name: undefined })).code).toBe('UNEXPECTED_ERROR');
        } finally {
            account.modules.file.load = realLoad;
        }
        expect(loads.some((id) => typeof id === 'number')).toBe(true);
        expect(leftoverUploads()).toEqual([]);
    });
});

describe('get (read)', () => {
    test('reads one record written by certrotor from its public copy', () => {
        const created = call('post', upload()).body;
        const { body } = call('get', { record: 'custcertificate_oa_realtime' });
        expect(body).toEqual({ ...created, internal_id: 7, valid: body.valid });
    });

    test('reads a record made in the UI from its own file when NetSuite lets the script read it', () => {
        account.state.fileReadable = true;
        recordFromUi('custcertificate_oa_realtime', 'openair-certificate.pem', 'OpenAir real-time');
        const { body } = call('get', { record: 'custcertificate_oa_realtime' });
        expectFacts(body, 'openair-certificate.pem');
        expect(body.is_placeholder).toBe(true);
        expect(body.internal_id).toBe(3);
        expect(body.name).toBe('OpenAir real-time');
    });

    test('a record whose file cannot be read and that certrotor never wrote is refused with the fix', () => {
        recordFromUi('custcertificate_oa_realtime', 'openair-certificate.pem');
        const error = refusal('get', { record: 'custcertificate_oa_realtime' });
        expect(error.code).toBe('CERTIFICATE_FILE_UNREADABLE');
        expect(error.message).toMatch(/certrotor rotate NAME/);
    });

    test('a missing record gives seed 004\'s text', () => {
        expect(refusal('get', { record: 'custcertificate_oa_realtime' })).toEqual({ code: 'NONEXISTENT_ID', message: constants.record_not_found_example });
    });

    test('lists every record it can describe', () => {
        call('post', upload());
        call('post', upload({ script_id: '_second', name: 'Second', file_content: fixture('ec_p256.pem') }));
        recordFromUi('custcertificate_unreadable', 'ec_p384.pem');
        const { body } = call('get', {});
        expect(body.records.map((r) => r.script_id)).toEqual(['custcertificate_oa_realtime', 'custcertificate_second']);
        expect(account.state.logs.some((entry) => entry.title === 'certrotor: record not listed')).toBe(true);
    });

    test('an empty account lists no records', () => {
        expect(call('get', {}).body).toEqual({ records: [] });
    });

    test('a role without Certificate Access cannot read, and is told so', () => {
        account.state.permission = 'NONE';
        expect(refusal('get', { record: 'custcertificate_oa_realtime' }).message).toMatch(/'Certificate Access' at level View/);
        expect(refusal('get', {}).code).toBe('INSUFFICIENT_PERMISSION');
    });
});

describe('delete', () => {
    test('deletes the record and its public copy', () => {
        call('post', upload());
        expect(call('delete', { record: 'CUSTCERTIFICATE_OA_REALTIME' }).body).toEqual({ deleted: 'custcertificate_oa_realtime' });
        expect(account.state.records.size).toBe(0);
        expect(privateFiles()).toEqual(['README.txt']);
    });

    test('a missing record gives seed 004\'s text', () => {
        expect(refusal('delete', { record: 'custcertificate_oa_realtime' })).toEqual({ code: 'NONEXISTENT_ID', message: 'Certificate "custcertificate_oa_realtime" not found' });
    });

    test('the record parameter is required', () => {
        expect(refusal('delete', {})).toEqual({ code: 'INVALID_CONTENT', message: 'Invalid request: record: Field required.' });
    });

    test('a role with Certificate Access below Full is told to grant Full', () => {
        recordFromUi('custcertificate_oa_realtime', 'ec_p256.pem');
        account.state.permission = 'EDIT';
        expect(refusal('delete', { record: 'custcertificate_oa_realtime' }).message).toMatch(/'Certificate Access' at level Full/);
        expect(account.state.records.size).toBe(1);
    });
});

describe('governance', () => {
    const operations = {
        create: () => ['post', upload()],
        replace: () => { recordFromUi('custcertificate_oa_realtime', 'ec_p256.pem'); return ['put', upload({ name: undefined })]; },
        read: () => { account.state.fileReadable = true; recordFromUi('custcertificate_oa_realtime', 'ec_p256.pem'); return ['get', { record: 'custcertificate_oa_realtime' }]; },
        list: () => { account.state.fileReadable = true; recordFromUi('custcertificate_oa_realtime', 'ec_p256.pem'); return ['get', {}]; },
        delete: () => { recordFromUi('custcertificate_oa_realtime', 'ec_p256.pem'); return ['delete', { record: 'custcertificate_oa_realtime' }]; },
    };

    test.each(Object.keys(operations))('%s: at every budget it either succeeds or refuses itself before NetSuite runs out, leaving no upload', (name) => {
        account.reset();
        const [method, argument] = operations[name]();
        account.state.usage = 5000;
        expect(call(method, argument).ok).toBe(true);
        const needed = 5000 - account.state.usage;
        expect(needed).toBeGreaterThan(0);
        for (let budget = 0; budget <= needed; budget += 5) {
            account.reset();
            const [m, a] = operations[name]();
            account.state.usage = budget;
            const outcome = call(m, a);
            if (!outcome.ok) {
                expect(outcome.body.error.code).toBe('SSS_USAGE_LIMIT_EXCEEDED');
                expect(outcome.body.error.message).toMatch(/governance units left/);
            }
            expect(leftoverUploads()).toEqual([]);
        }
    });

    test('with too few units for a create, nothing is spent and nothing is written', () => {
        account.state.usage = 50;
        expect(refusal('post', upload()).message).toBe('The RESTlet has 50 governance units left and creating a record needs 110; nothing was changed. Retry the call.');
        expect(account.state.charges).toEqual([]);
        expect(account.state.records.size).toBe(0);
    });

    test('every call that spends units is preceded by a look at the units left', () => {
        const looks = [];
        const realScript = account.modules.runtime.getCurrentScript;
        account.modules.runtime.getCurrentScript = () => {
            const script = realScript();
            return { ...script, getRemainingUsage: () => { looks.push(account.state.charges.length); return script.getRemainingUsage(); } };
        };
        try {
            call('post', upload());
            call('put', upload({ name: undefined }));
            call('get', { record: 'custcertificate_oa_realtime' });
            call('delete', { record: 'custcertificate_oa_realtime' });
        } finally {
            account.modules.runtime.getCurrentScript = realScript;
        }
        // Before the n-th charge (n charges done so far), a look happened with exactly n charges done.
        const cleanup = account.state.charges.map((c, i) => [c, i]).filter(([c]) => c === 'file.delete').map(([, i]) => i);
        account.state.charges.forEach((_charge, index) => {
            if (!cleanup.includes(index)) expect(looks).toContain(index);
        });
    });
});
