/**
 * Sample User Event script: after a record is saved, send the signed real-time import request for it
 * to the receiver (OpenAir's part, played here by certrotor's receiver). Script parameters name the
 * receiver, the certificate record and the db_id.
 *
 * @NApiVersion 2.1
 * @NScriptType UserEventScript
 * @NModuleScope SameAccount
 */
define(['N/log', 'N/runtime', './realtime_import_signer'], (log, runtime, signer) => {
    const PARAMETERS = {
        receiverUrl: 'custscript_certrotor_receiver_url',
        certId: 'custscript_certrotor_certificate_record',
        dbId: 'custscript_certrotor_db_id',
    };
    const DEFAULT_CERTIFICATE_RECORD = 'custcertificate_oa_realtime';

    function parameter(script, name) {
        const value = script.getParameter({ name });
        return value === null || value === undefined ? '' : String(value).trim();
    }

    function afterSubmit(context) {
        if (context.type === context.UserEventType.DELETE) return;
        const script = runtime.getCurrentScript();
        const receiverUrl = parameter(script, PARAMETERS.receiverUrl);
        if (!receiverUrl) {
            log.error({ title: 'certrotor: no receiver', details: `set the script parameter ${PARAMETERS.receiverUrl}` });
            return;
        }
        const record = context.newRecord;
        const fields = signer.importFields({
            dbId: parameter(script, PARAMETERS.dbId) || runtime.accountId,
            recordType: record.type,
            nsId: record.id,
            netsuiteUserId: runtime.getCurrentUser().id,
        });
        try {
            const outcome = signer.sendImport({
                receiverUrl,
                certId: parameter(script, PARAMETERS.certId) || DEFAULT_CERTIFICATE_RECORD,
                fields,
            });
            const title = outcome.code >= 200 && outcome.code < 300 ? 'certrotor: import accepted' : 'certrotor: import refused';
            log.audit({ title, details: `HTTP ${outcome.code}: ${String(outcome.body).slice(0, 500)}` });
        } catch (e) {
            // A failed notification must not undo the user's save.
            log.error({ title: 'certrotor: import not sent', details: `${e.name}: ${e.message}` });
        }
    }

    return { afterSubmit };
});
