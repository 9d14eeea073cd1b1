/**
 * certrotor's certificate records RESTlet: the contract of certrotor.protocol.records over
 * N/certificateControl (read, create, replace the file in place, delete), answering the emulator's
 * JSON shapes and error texts. Deployed as customscript_certrotor_certificates /
 * customdeploy_certrotor_certificates; it runs with the caller's role, which needs Certificate Access.
 *
 * A record's file comes from the File Cabinet: the uploaded file (it holds a private key) is written
 * into the project's private folder, used, and deleted in a `finally` whatever happens.
 *
 * @NApiVersion 2.1
 * @NScriptType Restlet
 * @NModuleScope SameAccount
 */
define(['N/certificateControl', 'N/crypto', 'N/encode', 'N/error', 'N/file', 'N/log', 'N/runtime', './lib/x509_info'], (
    certificateControl,
    crypto,
    encode,
    error,
    file,
    log,
    runtime,
    x509,
) => {
    const SCRIPT_ID_PREFIX = 'custcertificate';
    const MAX_SCRIPT_ID_LENGTH = 40;
    const SCRIPT_ID_PATTERN = /^custcertificate[a-z0-9_]+$/;
    const PLACEHOLDER_FILE_NAME = 'openair-certificate.pem';
    const PLACEHOLDER_FINGERPRINT = '09e9fcf7c0e0c09ca4852ebc11fab6a5d52959caa0d539ac66b545214c1a0b92';
    const MIN_RSA_BITS = 2048;
    const CURVES = ['secp256r1', 'secp384r1', 'secp521r1'];
    const PRIVATE_FOLDER = '/SuiteScripts/certrotor/private';
    const PRIVATE_FOLDER_MARKER = `${PRIVATE_FOLDER}/README.txt`;
    const PUBLIC_COPY_SUFFIX = '.public.json';

    /** Governance units of each call that spends them (Oracle's figures; createCertificate counted as 10). */
    const UNITS = {
        findCertificates: 10,
        loadCertificate: 10,
        createCertificate: 10,
        deleteCertificate: 10,
        saveCertificate: 10,
        loadFile: 10,
        saveFile: 20,
        deleteFile: 20,
    };

    // Error codes: those of certrotor's emulator, so that the client reads both alike.
    const INVALID_CONTENT = 'INVALID_CONTENT';
    const INVALID_CERTIFICATE = 'INVALID_CERTIFICATE';
    const NONEXISTENT_ID = 'NONEXISTENT_ID';
    const INSUFFICIENT_PERMISSION = 'INSUFFICIENT_PERMISSION';
    const USAGE_LIMIT = 'SSS_USAGE_LIMIT_EXCEEDED';
    const FILE_UNREADABLE = 'CERTIFICATE_FILE_UNREADABLE';

    const NOT_FOUND_CODES = ['CERTIFICATE_NOT_FOUND', 'RCRD_DSNT_EXIST', 'NONEXISTENT_ID', 'INVALID_CERTIFICATE_ID'];
    const PERMISSION_CODES = ['INSUFFICIENT_PERMISSION', 'ACCESS_TO_CERTIFICATE_RESTRICTED', 'SSS_PERMISSION_VIOLATION'];
    const UPLOAD_FIELDS = ['script_id', 'name', 'file_name', 'file_format', 'file_content', 'password', 'certificate'];

    const OWN_ERRORS = new WeakSet();

    function refuse(code, message) {
        return error.create({ name: code, message, notifyOff: true });
    }

    /** An error this RESTlet raised on purpose: passed on as it is. */
    function ours(problem) {
        OWN_ERRORS.add(problem);
        return problem;
    }

    function isNetSuiteRefusal(problem, codes, pattern) {
        const name = String((problem && problem.name) || '');
        const message = String((problem && problem.message) || '');
        return codes.includes(name) || pattern.test(message);
    }

    function isNotFound(problem) {
        return isNetSuiteRefusal(problem, NOT_FOUND_CODES, /not found|does not exist|doesn't exist/i);
    }

    function isPermissionRefusal(problem) {
        return isNetSuiteRefusal(problem, PERMISSION_CODES, /permission|not allowed|restricted/i);
    }

    /** NetSuite's refusal of a certificateControl call, as the contract's error (never loses NetSuite's text). */
    function translate(problem, level, scriptId) {
        if (problem && typeof problem === 'object' && OWN_ERRORS.has(problem)) return problem;
        const said = `${(problem && problem.name) || 'ERROR'}: ${(problem && problem.message) || String(problem)}`;
        if (isPermissionRefusal(problem)) {
            return refuse(
                INSUFFICIENT_PERMISSION,
                `The role calling the certrotor RESTlet lacks the permission 'Certificate Access' at level ${level} ` +
                    `(NetSuite said ${said}); grant it to the role of certrotor's integration token ` +
                    '(Create or Edit to replace files, Full to delete).',
            );
        }
        if (scriptId && isNotFound(problem)) return refuse(NONEXISTENT_ID, notFoundMessage(scriptId));
        return refuse(INVALID_CERTIFICATE, `NetSuite refused the certificate record: ${said}`);
    }

    function notFoundMessage(scriptId) {
        return `Certificate "${scriptId}" not found`;
    }

    // -- governance --------------------------------------------------------------------------

    function remainingUnits() {
        return runtime.getCurrentScript().getRemainingUsage();
    }

    /** Refuse before starting when the whole operation (cleanup included) cannot be paid for. */
    function requireUnits(units, operation) {
        const left = remainingUnits();
        if (left < units) {
            throw ours(refuse(
                USAGE_LIMIT,
                `The RESTlet has ${left} governance units left and ${operation} needs ${units}; nothing was changed. Retry the call.`,
            ));
        }
    }

    /** Check the units of one call right before it is made. */
    function spend(call) {
        const units = UNITS[call];
        const left = remainingUnits();
        if (left < units) {
            throw ours(refuse(USAGE_LIMIT, `The RESTlet has ${left} governance units left and ${call} needs ${units}. Retry the call.`));
        }
    }

    // -- input -------------------------------------------------------------------------------

    function pythonRepr(text) {
        return text.includes("'") && !text.includes('"') ? `"${text}"` : `'${text.replace(/'/g, "\\'")}'`;
    }

    /** The script ID NetSuite gives a record created with ID `recordId` (certrotor.protocol.records.record_script_id). */
    function recordScriptId(recordId) {
        let value = String(recordId).trim().toLowerCase();
        if (value && !value.startsWith(SCRIPT_ID_PREFIX)) value = SCRIPT_ID_PREFIX + value;
        if (!SCRIPT_ID_PATTERN.test(value) || value.length > MAX_SCRIPT_ID_LENGTH) {
            throw ours(refuse(INVALID_CONTENT, `Invalid certificate record ID ${pythonRepr(String(recordId))}.`));
        }
        return value;
    }

    function invalidRequest(problems) {
        return ours(refuse(INVALID_CONTENT, `Invalid request: ${problems.join('; ')}.`));
    }

    function checkString(body, field, problems, { required = false, min = 0, max = Infinity, nullable = true } = {}) {
        if (!(field in body)) {
            if (required) problems.push(`${field}: Field required`);
            return;
        }
        const value = body[field];
        if (value === null && nullable && !required) return;
        if (typeof value !== 'string') {
            problems.push(`${field}: Input should be a valid string`);
        } else if (value.length < min) {
            problems.push(`${field}: String should have at least ${min} character${min === 1 ? '' : 's'}`);
        } else if (value.length > max) {
            problems.push(`${field}: String should have at most ${max} characters`);
        }
    }

    /** The body of a create or a file replacement (certrotor.protocol.records.RecordFileUpload). */
    function readUpload(body) {
        let payload = body;
        if (typeof payload === 'string') {
            try {
                payload = JSON.parse(payload);
            } catch (e) {
                throw ours(refuse(INVALID_CONTENT, 'The request body is not valid JSON; send Content-Type: application/json.'));
            }
        }
        if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
            throw ours(refuse(INVALID_CONTENT, 'The request body must be a JSON object.'));
        }
        const problems = [];
        checkString(payload, 'script_id', problems, { required: true, min: 1, max: 100 });
        checkString(payload, 'name', problems, { max: 200 });
        checkString(payload, 'file_name', problems, { min: 1, max: 200, nullable: false });
        if ('file_format' in payload && !['pem', 'pkcs12'].includes(payload.file_format)) {
            problems.push("file_format: Input should be 'pem' or 'pkcs12'");
        }
        checkString(payload, 'file_content', problems, { required: true, min: 1 });
        checkString(payload, 'password', problems);
        checkString(payload, 'certificate', problems, { max: 20000 });
        Object.keys(payload)
            .filter((key) => !UPLOAD_FIELDS.includes(key))
            .forEach((key) => problems.push(`${key}: Extra inputs are not permitted`));
        if (problems.length) throw invalidRequest(problems);
        return {
            scriptId: payload.script_id,
            name: payload.name === undefined ? null : payload.name,
            fileName: payload.file_name === undefined ? PLACEHOLDER_FILE_NAME : payload.file_name,
            fileFormat: payload.file_format === undefined ? 'pem' : payload.file_format,
            fileContent: payload.file_content,
            password: payload.password === undefined ? null : payload.password,
            certificate: payload.certificate === undefined ? null : payload.certificate,
        };
    }

    function badFile(message) {
        return ours(refuse(INVALID_CERTIFICATE, message));
    }

    /** The emulator's checks of the key's strength, on the certificate's public key. */
    function checkKey(facts) {
        if (facts.keyType === 'RSA') {
            if (facts.keySize < MIN_RSA_BITS) {
                throw badFile(`RSA keys of ${facts.keySize} bits are too weak; use at least ${MIN_RSA_BITS}.`);
            }
        } else if (facts.keyType === 'EC') {
            if (!CURVES.includes(facts.curve)) {
                throw badFile(`The elliptic curve ${facts.curve} is not supported; use P-256, P-384 or P-521.`);
            }
        } else {
            throw badFile(`Unsupported private key type ${facts.keyType}PrivateKey; use RSA or EC.`);
        }
    }

    function describeOrRefuse(der, what) {
        try {
            return x509.describeCertificate(der);
        } catch (e) {
            throw badFile(`The ${what} is not a readable X.509 certificate.`);
        }
    }

    /** The certificate of an uploaded file: read from a PEM file, or given beside a PKCS#12 one. */
    function uploadedCertificate(upload) {
        if (upload.fileFormat === 'pem') {
            let certificates;
            try {
                certificates = x509.pemCertificates(upload.fileContent);
            } catch (e) {
                certificates = [];
            }
            if (!certificates.length) {
                throw badFile('The file holds no readable PEM certificate (-----BEGIN CERTIFICATE-----).');
            }
            const keys = x509.pemPrivateKeyCount(upload.fileContent);
            if (!keys) {
                throw badFile(
                    'The file holds no private key; a certificate record needs the key NetSuite signs with ' +
                        '(PEM with the certificate and its key, or PKCS#12).',
                );
            }
            if (certificates.length !== 1 || keys !== 1) {
                throw badFile('The PEM file must hold exactly one certificate and one private key.');
            }
            const facts = describeOrRefuse(certificates[0], 'file\'s certificate');
            checkKey(facts);
            return facts;
        }
        try {
            x509.base64ToBytes(upload.fileContent);
        } catch (e) {
            throw badFile('A PKCS#12 file_content must be base64 text.');
        }
        if (!upload.certificate) {
            throw ours(refuse(
                INVALID_CONTENT,
                'A pkcs12 upload to the NetSuite RESTlet needs "certificate": the PEM of the certificate in the file ' +
                    '(SuiteScript cannot open PKCS#12 files).',
            ));
        }
        const certificates = x509.pemCertificates(upload.certificate);
        if (certificates.length !== 1) throw badFile('"certificate" must hold exactly one PEM certificate.');
        const facts = describeOrRefuse(certificates[0], '"certificate"');
        checkKey(facts);
        return facts;
    }

    // -- facts -------------------------------------------------------------------------------

    function sha256Hex(base64Der) {
        const hash = crypto.createHash({ algorithm: crypto.HashAlg.SHA256 });
        hash.update({ input: base64Der, inputEncoding: encode.Encoding.BASE_64 });
        return hash.digest({ outputEncoding: encode.Encoding.HEX }).toLowerCase();
    }

    function isoNow() {
        return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    }

    /** The contract's CertificateRecordInfo for a record: public facts only, never the key. */
    function recordInfo({ scriptId, name, internalId, fileName, fileFormat, facts, dateCreated, lastModified }) {
        const fingerprint = sha256Hex(facts.base64);
        const now = isoNow();
        return {
            script_id: scriptId,
            name,
            internal_id: internalId,
            file_name: fileName,
            file_format: fileFormat,
            certificate: facts.pem,
            fingerprint_sha256: fingerprint,
            subject: facts.subject,
            issuer: facts.issuer,
            key_type: facts.keyType,
            key_size: facts.keySize,
            not_before: facts.notBefore,
            not_after: facts.notAfter,
            is_placeholder: fingerprint === PLACEHOLDER_FINGERPRINT,
            valid: facts.notBefore <= now && now < facts.notAfter,
            date_created: dateCreated,
            last_modified: lastModified,
        };
    }

    /** NetSuite's internal ID of a record when findCertificates reports one; 0 when it does not. */
    function internalIdOf(metadata) {
        if (!metadata) return 0;
        for (const key of ['internalId', 'internalid', 'id']) {
            const value = Number(metadata[key]);
            if (metadata[key] !== undefined && metadata[key] !== '' && Number.isInteger(value)) return value;
        }
        return 0;
    }

    function metadataScriptId(metadata) {
        return String(metadata.scriptId || metadata.scriptid || metadata.id || '').toLowerCase();
    }

    // -- File Cabinet ------------------------------------------------------------------------

    function privateFolderId() {
        spend('loadFile');
        return file.load({ id: PRIVATE_FOLDER_MARKER }).folder;
    }

    function publicCopyPath(scriptId) {
        return `${PRIVATE_FOLDER}/${scriptId}${PUBLIC_COPY_SUFFIX}`;
    }

    /** What this RESTlet wrote about a record last time (public facts), or null. */
    function loadPublicCopy(scriptId) {
        spend('loadFile');
        try {
            return JSON.parse(file.load({ id: publicCopyPath(scriptId) }).getContents());
        } catch (e) {
            if (isNotFound(e) || e instanceof SyntaxError) return null;
            throw e;
        }
    }

    function savePublicCopy(folderId, copy) {
        spend('saveFile');
        file.create({
            name: `${copy.script_id}${PUBLIC_COPY_SUFFIX}`,
            fileType: file.Type.JSON,
            contents: JSON.stringify(copy),
            folder: folderId,
        }).save();
    }

    function deletePublicCopy(scriptId) {
        spend('loadFile');
        let copy;
        try {
            copy = file.load({ id: publicCopyPath(scriptId) });
        } catch (e) {
            if (isNotFound(e)) return;
            throw e;
        }
        spend('deleteFile');
        file.delete({ id: copy.id });
    }

    function randomSuffix() {
        return `${Date.now().toString(36)}${Math.floor(Math.random() * 0x7fffffff).toString(36)}`;
    }

    /**
     * Write the uploaded file into the private folder, hand it to `use`, and delete it afterwards,
     * whether `use` succeeds or throws: the file holds a private key.
     */
    function withTemporaryFile(folderId, upload, use) {
        const pem = upload.fileFormat === 'pem';
        const temporary = file.create({
            name: `certrotor-upload-${randomSuffix()}.${pem ? 'pem' : 'p12'}`,
            fileType: pem ? file.Type.PLAINTEXT : file.Type.CERTIFICATE,
            contents: upload.fileContent,
            folder: folderId,
        });
        let fileId = null;
        try {
            spend('saveFile');
            fileId = temporary.save();
            spend('loadFile');
            return use(file.load({ id: fileId }));
        } finally {
            if (fileId !== null) {
                try {
                    file.delete({ id: fileId });
                } catch (cleanup) {
                    log.error({ title: 'certrotor: temporary certificate file not deleted', details: `file ${fileId}: ${cleanup.name}` });
                }
            }
        }
    }

    // -- records -----------------------------------------------------------------------------

    function loadRecord(scriptId, shownId, level) {
        spend('loadCertificate');
        try {
            return certificateControl.loadCertificate({ scriptId });
        } catch (e) {
            throw translate(e, level, shownId);
        }
    }

    function findAll(level) {
        spend('findCertificates');
        try {
            return certificateControl.findCertificates() || [];
        } catch (e) {
            throw translate(e, level, null);
        }
    }

    /** The certificate a record holds: its own file when NetSuite lets scripts read it, else the public copy. */
    function recordCertificate(certificate, copy) {
        try {
            const recordFile = certificate.file;
            const contents = recordFile && typeof recordFile.getContents === 'function' ? recordFile.getContents() : null;
            const blocks = contents ? x509.pemCertificates(contents) : [];
            if (blocks.length === 1) {
                return {
                    facts: x509.describeCertificate(blocks[0]),
                    fileName: recordFile.name || (copy && copy.file_name) || PLACEHOLDER_FILE_NAME,
                    fileFormat: 'pem',
                };
            }
        } catch (e) {
            // NetSuite does not let every file be read back: the public copy speaks for it.
        }
        if (!copy) return null;
        const blocks = x509.pemCertificates(copy.certificate);
        return { facts: x509.describeCertificate(blocks[0]), fileName: copy.file_name, fileFormat: copy.file_format };
    }

    function describeRecord(scriptId, certificate, metadata, { required }) {
        const copy = loadPublicCopy(scriptId);
        const found = recordCertificate(certificate, copy);
        if (!found) {
            if (!required) return null;
            throw ours(refuse(
                FILE_UNREADABLE,
                `NetSuite does not let scripts read the file of certificate record "${scriptId}", and certrotor has not ` +
                    'written it yet; let certrotor replace its file once (`certrotor rotate NAME`).',
            ));
        }
        // Dates: this RESTlet's own account of its writes. A record it never wrote (or whose file was
        // replaced elsewhere since) has no known date: the certificate's not_before stands for it,
        // the earliest moment its current file can be from.
        const fingerprintNow = sha256Hex(found.facts.base64);
        const copyCurrent = copy && sha256Hex(x509.describeCertificate(x509.pemCertificates(copy.certificate)[0]).base64) === fingerprintNow;
        return recordInfo({
            scriptId,
            name: certificate.name || (metadata && metadata.name) || (copy && copy.name) || scriptId,
            internalId: internalIdOf(metadata),
            fileName: found.fileName,
            fileFormat: found.fileFormat,
            facts: found.facts,
            dateCreated: (copy && copy.date_created) || found.facts.notBefore,
            lastModified: copyCurrent ? copy.last_modified : found.facts.notBefore,
        });
    }

    function readOne(requested) {
        const scriptId = String(requested).trim().toLowerCase();
        requireUnits(UNITS.findCertificates + UNITS.loadCertificate + UNITS.loadFile, 'reading a record');
        const metadata = findAll('View').find((entry) => metadataScriptId(entry) === scriptId);
        const certificate = loadRecord(scriptId, requested, 'View');
        return describeRecord(scriptId, certificate, metadata, { required: true });
    }

    function readAll() {
        const records = [];
        for (const metadata of findAll('View')) {
            const scriptId = metadataScriptId(metadata);
            if (!scriptId.startsWith(SCRIPT_ID_PREFIX)) continue;
            requireUnits(UNITS.loadCertificate + UNITS.loadFile, 'listing the records');
            const certificate = loadRecord(scriptId, scriptId, 'View');
            const info = describeRecord(scriptId, certificate, metadata, { required: false });
            if (info) records.push(info);
            else log.audit({ title: 'certrotor: record not listed', details: `${scriptId}: its file cannot be read and certrotor never wrote it` });
        }
        return { records };
    }

    function publicCopyOf(info) {
        return {
            script_id: info.script_id,
            name: info.name,
            file_name: info.file_name,
            file_format: info.file_format,
            certificate: info.certificate,
            date_created: info.date_created,
            last_modified: info.last_modified,
        };
    }

    // -- entry points ------------------------------------------------------------------------

    /** GET ?record=SCRIPT_ID: one record's metadata; without `record`: every record. */
    function get(requestParams) {
        const record = requestParams && requestParams.record;
        return record === undefined || record === null || record === '' ? readAll() : readOne(record);
    }

    /** POST: create a record (RecordFileUpload with `name`). */
    function post(requestBody) {
        const upload = readUpload(requestBody);
        if (!upload.name || !upload.name.trim()) throw ours(refuse(INVALID_CONTENT, 'A new certificate record needs a name.'));
        const facts = uploadedCertificate(upload);
        const scriptId = recordScriptId(upload.scriptId);
        requireUnits(
            UNITS.loadCertificate + 2 * UNITS.loadFile + 2 * UNITS.saveFile + UNITS.createCertificate + UNITS.saveCertificate + UNITS.deleteFile,
            'creating a record',
        );
        let exists = true;
        spend('loadCertificate');
        try {
            certificateControl.loadCertificate({ scriptId });
        } catch (e) {
            if (!isNotFound(e) || isPermissionRefusal(e)) throw translate(e, 'Create', null);
            exists = false;
        }
        if (exists) throw ours(refuse(INVALID_CONTENT, `Certificate "${scriptId}" already exists.`));
        const folderId = privateFolderId();
        const name = upload.name.trim();
        withTemporaryFile(folderId, upload, (temporary) => {
            try {
                spend('createCertificate');
                const certificate = certificateControl.createCertificate({
                    file: temporary,
                    password: upload.password || '',
                    scriptId: scriptId.slice(SCRIPT_ID_PREFIX.length),
                    name,
                    description: 'Managed by certrotor: its key signs requests that an external system verifies.',
                });
                spend('saveCertificate');
                certificate.save();
            } catch (e) {
                throw translate(e, 'Create', null);
            }
        });
        const now = isoNow();
        const info = recordInfo({
            scriptId, name, internalId: 0, fileName: upload.fileName, fileFormat: upload.fileFormat, facts, dateCreated: now, lastModified: now,
        });
        savePublicCopy(folderId, publicCopyOf(info));
        return info;
    }

    /** PUT: replace the file of an existing record in place (its ID stays the same). */
    function put(requestBody) {
        const upload = readUpload(requestBody);
        const facts = uploadedCertificate(upload);
        const scriptId = recordScriptId(upload.scriptId);
        requireUnits(
            UNITS.loadCertificate + 3 * UNITS.loadFile + 2 * UNITS.saveFile + UNITS.saveCertificate + UNITS.deleteFile,
            'replacing a record\'s file',
        );
        const certificate = loadRecord(scriptId, scriptId, 'Edit');
        const folderId = privateFolderId();
        const previous = loadPublicCopy(scriptId);
        withTemporaryFile(folderId, upload, (temporary) => {
            try {
                certificate.file = temporary;
                certificate.password = upload.password || '';
                spend('saveCertificate');
                certificate.save();
            } catch (e) {
                throw translate(e, 'Edit', scriptId);
            }
        });
        const now = isoNow();
        const info = recordInfo({
            scriptId,
            name: certificate.name || (previous && previous.name) || scriptId,
            internalId: 0,
            fileName: upload.fileName,
            fileFormat: upload.fileFormat,
            facts,
            dateCreated: (previous && previous.date_created) || now,
            lastModified: now,
        });
        savePublicCopy(folderId, publicCopyOf(info));
        return info;
    }

    /** DELETE ?record=SCRIPT_ID: delete a record (only `certrotor record recreate` does this). */
    function doDelete(requestParams) {
        const record = requestParams && requestParams.record;
        if (record === undefined || record === null) throw invalidRequest(['record: Field required']);
        const scriptId = String(record).trim().toLowerCase();
        requireUnits(UNITS.deleteCertificate + UNITS.loadFile + UNITS.deleteFile, 'deleting a record');
        spend('deleteCertificate');
        try {
            certificateControl.deleteCertificate({ scriptId });
        } catch (e) {
            throw translate(e, 'Full', record);
        }
        deletePublicCopy(scriptId);
        return { deleted: scriptId };
    }

    return { get, post, put, delete: doDelete };
});
