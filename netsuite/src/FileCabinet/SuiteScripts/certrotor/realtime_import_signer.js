/**
 * Signed real-time import requests, as certrotor's receiver verifies them (certrotor.protocol.signed_import):
 * the canonical query (fixed field order, percent-encoded), signed with a certificate record's key
 * through N/crypto/certificate (SHA-256; RSA PKCS#1 v1.5 or ECDSA in DER, the module's default),
 * then `GET <receiver>/netsuite.pl?<query>&signature=<base64>` with N/https.
 *
 * @NApiVersion 2.1
 * @NModuleScope SameAccount
 */
define(['N/crypto/certificate', 'N/encode', 'N/https', 'N/runtime'], (certificate, encode, https, runtime) => {
    const IMPORT_PATH = '/netsuite.pl';
    const SIGNATURE_PARAM = 'signature';
    const SYNCHRONIZE_ACTION = 'synchronize';
    const SIGNED_FIELDS = ['action', 'db_id', 'record_type', 'ns_id', 'netsuite_user_id', 'timestamp'];
    /** ECDSA signatures are sent DER-encoded: useRawFormatForECDSA stays false (the contract's choice). */
    const ECDSA_SIGNATURE_ENCODING = 'der';
    const UNITS = { createSigner: 10, httpsGet: 10 };

    /** Python's quote(value, safe=''): every byte but A-Z a-z 0-9 _ . - ~ percent-encoded (UTF-8). */
    function quote(value) {
        return encodeURIComponent(String(value)).replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`);
    }

    /** `action=...&db_id=...&...&timestamp=...`: exactly the bytes that are signed. */
    function canonicalQuery(fields) {
        const missing = SIGNED_FIELDS.filter((name) => fields[name] === undefined || fields[name] === null);
        if (missing.length) throw new Error(`missing signed field(s): ${missing.join(', ')}`);
        return SIGNED_FIELDS.map((name) => `${name}=${quote(fields[name])}`).join('&');
    }

    /** The fields of one import request; `timestamp` is Unix seconds (default: now). */
    function importFields({ dbId, recordType, nsId, netsuiteUserId, timestamp, action }) {
        return {
            action: action || SYNCHRONIZE_ACTION,
            db_id: String(dbId),
            record_type: String(recordType),
            ns_id: String(nsId),
            netsuite_user_id: String(netsuiteUserId),
            timestamp: String(timestamp === undefined ? Math.floor(Date.now() / 1000) : timestamp),
        };
    }

    function requireUnits(units, call) {
        const left = runtime.getCurrentScript().getRemainingUsage();
        if (left < units) throw new Error(`${left} governance units left; ${call} needs ${units}.`);
    }

    /** Standard base64 signature of the query's UTF-8 bytes with the record's key, SHA-256. */
    function signQuery(query, certId) {
        requireUnits(UNITS.createSigner, 'certificate.createSigner');
        const signer = certificate.createSigner({ certId, algorithm: certificate.HashAlg.SHA256 });
        signer.update({ input: query, inputEncoding: encode.Encoding.UTF_8 });
        return signer.sign({ outputEncoding: encode.Encoding.BASE_64, useRawFormatForECDSA: false }).replace(/\s+/g, '');
    }

    /** The whole query string sent: the canonical query plus `&signature=...` (always last). */
    function signedQuery(fields, certId) {
        const query = canonicalQuery(fields);
        return `${query}&${SIGNATURE_PARAM}=${quote(signQuery(query, certId))}`;
    }

    /** The request's URL: `<receiverUrl>/netsuite.pl?<signed query>`. */
    function importUrl(receiverUrl, fields, certId) {
        return `${String(receiverUrl).replace(/\/+$/, '')}${IMPORT_PATH}?${signedQuery(fields, certId)}`;
    }

    /** Sign and send one import request; the receiver's status code and body. */
    function sendImport({ receiverUrl, certId, fields }) {
        const url = importUrl(receiverUrl, fields, certId);
        requireUnits(UNITS.httpsGet, 'https.get');
        const response = https.get({ url });
        return { url, code: response.code, body: response.body };
    }

    return {
        ECDSA_SIGNATURE_ENCODING,
        IMPORT_PATH,
        SIGNATURE_PARAM,
        SIGNED_FIELDS,
        canonicalQuery,
        importFields,
        importUrl,
        quote,
        sendImport,
        signQuery,
        signedQuery,
    };
});
